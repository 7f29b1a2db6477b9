"""Fuzz the socket with frames from the protocol's grammar, near-misses of it, and random text and bytes.

Each example opens a logged-in socket, sends one to three frames, then a ping, and reads up to its
pong. It must hold: no internal_error, no error or traceback in the server's log, the socket
still answers, and every message.send that was not refused is stored exactly once (a refused one
not at all). FUZZ_EXAMPLES sets the count (2,000 by default; `make fuzz` runs 20,000), run as two
tests of half as many each (independent random examples), so two xdist workers share them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import protocol, services, turns
from chat.models import Message
from tests.support.socket import communicator, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
PARTS = 2
TYPES = ["message.send", "generation.stop", "conversation.open", "tool.confirm", "ping"]
OWN, OTHERS = "<own conversation>", "<someone else's conversation>"

# Kept shallow and regex-free: generating the examples was most of the run's time.
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=8), scalars, max_size=3)
conversation_ids = st.sampled_from([OWN, OTHERS]) | st.integers(min_value=-2, max_value=10**12)
client_ids = st.text(alphabet=string.ascii_letters + string.digits + "_.:-", min_size=1, max_size=40)
texts = st.text(min_size=1, max_size=60) | st.sampled_from(["what is 12*7", "time in Europe/Paris", " ", "a\x00b"])

valid_frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("message.send"), "client_id": client_ids, "text": texts},
        optional={"conversation_id": st.none() | conversation_ids},
    ),
    st.fixed_dictionaries({"type": st.just("generation.stop"), "conversation_id": conversation_ids}),
    st.fixed_dictionaries(
        {"type": st.just("conversation.open"), "conversation_id": conversation_ids},
        optional={"last_seq": st.integers(min_value=-1, max_value=10**6)},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("tool.confirm"),
            "conversation_id": conversation_ids,
            "call_id": st.text(min_size=1, max_size=20),
            "allow": st.booleans(),
        }
    ),
    st.fixed_dictionaries({"type": st.just("ping")}, optional={"nonce": st.none() | st.text(max_size=70)}),
)


@st.composite
def near_valid_frames(draw: st.DrawFn) -> dict:
    frame = dict(draw(valid_frames))
    key = draw(st.sampled_from(sorted(frame)))
    how = draw(st.sampled_from(["drop", "extra", "retype", "type"]))
    if how == "drop":
        del frame[key]
    elif how == "extra":
        frame[draw(st.text(max_size=10))] = draw(json_values)
    elif how == "retype":
        frame[key] = draw(json_values)
    else:
        frame["type"] = draw(st.sampled_from(TYPES) | st.text(max_size=20) | json_values)
    return frame


raw_frames = st.one_of(
    st.text(max_size=100).map(lambda text: ("text", text)),
    st.binary(max_size=100).map(lambda data: ("bytes", data)),
    st.binary(max_size=100).map(lambda data: ("text", data.decode("latin-1"))),
    json_values.map(lambda value: ("text", json.dumps(value))),
)
frames = st.one_of(valid_frames, near_valid_frames(), raw_frames)

_unique = itertools.count()


def _prepare(frame: object, own: list[int], others: int) -> tuple[str, str | bytes, str | None]:
    """The wire form of a generated frame; message.send ids made unique so stored rows can be counted."""
    if isinstance(frame, tuple):
        return frame[0], frame[1], None
    frame = {key: (own[-1] if own else None) if value == OWN else others if value == OTHERS else value
             for key, value in frame.items()}
    client_id = None
    if frame.get("type") == "message.send" and isinstance(frame.get("client_id"), str):
        frame["client_id"] = client_id = f"f{next(_unique)}.{frame['client_id']}"[:64]
    return "text", json.dumps(frame), client_id


def _parses(raw: str) -> bool:
    try:
        protocol.parse(raw, max_bytes=64 * 1024, max_text_chars=8000)
    except protocol.ClientError:
        return False
    return True


@database_sync_to_async
def _stored(client_ids: list[str]) -> dict[str, int]:
    counts = {client_id: 0 for client_id in client_ids}
    for client_id in Message.objects.filter(client_id__in=client_ids).values_list("client_id", flat=True):
        counts[client_id] += 1
    return counts


async def _turns_done() -> None:
    tasks = [turn.task for turn in turns.running_turns() if turn.task is not None]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=15)
        assert not pending, "replies still running 15 s after the fuzzed frames"


@dataclass
class Target:
    cookie: str
    others: int
    own: list[int] = field(default_factory=list)
    comm: Any = None

    async def socket(self) -> Any:
        """The socket the examples share (one connect costs ~50 ms here; a fresh one per example took minutes)."""
        if self.comm is None:
            self.comm = communicator(self.cookie)
            accepted, code = await self.comm.connect(timeout=5)
            assert accepted, f"the socket was refused ({code})"
        return self.comm


@pytest.fixture
async def target(user, other_user, settings) -> AsyncIterator[Target]:
    """One person's session and socket, shared by every example; someone else's conversation to aim at."""
    settings.CHAT_RATE_LIMIT_MESSAGES = 10**9
    settings.MCP_BUILTIN_ENABLED = False  # listing the in-memory MCP server at each turn is most of its cost
    others = await database_sync_to_async(services.conversation_create)(owner=other_user, first_text="theirs")
    target = Target(await session_cookie(user), others.pk)
    yield target
    if target.comm is not None:
        await target.comm.disconnect()
    await _turns_done()


@pytest.mark.parametrize("part", range(PARTS))
@settings(
    max_examples=-(-EXAMPLES // PARTS),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=st.lists(frames, min_size=1, max_size=3))
async def test_fuzzed_frames_never_break_the_socket_or_store_twice(part, target, caplog, generated):
    caplog.clear()
    nonce = f"end-{next(_unique)}"
    comm = await target.socket()
    sends: list[str] = []
    for kind, payload, client_id in (_prepare(frame, target.own, target.others) for frame in generated):
        await comm.send_input({"type": "websocket.receive", kind: payload})  # send_to refuses empty frames
        if client_id is not None and _parses(payload):
            sends.append(client_id)
    await comm.send_to(text_data=json.dumps({"type": "ping", "nonce": nonce}))
    received = []
    while True:
        frame = json.loads(await comm.receive_from(timeout=10))
        received.append(frame)
        if frame == {"type": "pong", "nonce": nonce}:
            break

    assert not [f for f in received if f.get("code") == "internal_error"], received
    refused = {f.get("client_id") for f in received if f["type"] == "error"}
    target.own.extend(f["conversation_id"] for f in received if f["type"] == "conversation.created")
    # A user message is stored before its send is answered, so the pong means every row is there.
    stored = await _stored(sends) if sends else {}
    assert stored == {cid: 0 if cid in refused else 1 for cid in sends}, (generated, received)
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]
