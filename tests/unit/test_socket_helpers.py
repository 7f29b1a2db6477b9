"""tests/support/socket.py: a wait is bounded in total, however many other frames keep arriving."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.support.socket import receive_frame


class ChattySocket:
    """A communicator that never sends the awaited frame but always has another one ready."""

    def __init__(self) -> None:
        self.sent = 0

    async def receive_from(self, timeout: float = 1) -> str:  # noqa: ASYNC109 - the communicator's signature
        await asyncio.sleep(0.01)  # allowed-sleep: the steady stream of other frames under test
        self.sent += 1
        return json.dumps({"type": "pong", "n": self.sent})


async def test_a_steady_stream_of_other_frames_does_not_extend_the_wait() -> None:
    comm = ChattySocket()
    started = time.monotonic()

    with pytest.raises(AssertionError, match=r"expected a 'turn.finished' frame within 0.3 s; arrived instead: .*pong"):
        await asyncio.wait_for(receive_frame(comm, "turn.finished", timeout=0.3), 5)  # type: ignore[arg-type]

    assert time.monotonic() - started < 1.5
    assert comm.sent > 5, "the frames did keep arriving"


async def test_the_awaited_frame_is_returned_and_everything_before_it_kept() -> None:
    comm = ChattySocket()
    seen: list[dict] = []

    frame = await receive_frame(comm, "pong", where=lambda f: f["n"] == 3, seen=seen)  # type: ignore[arg-type]

    assert frame == {"type": "pong", "n": 3}
    assert [f["n"] for f in seen] == [1, 2, 3]
