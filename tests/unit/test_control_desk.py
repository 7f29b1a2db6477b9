"""The turn control desk survives a broken layer read: a stop sent after a Redis hiccup still reaches its turn."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import InMemoryChannelLayer

from chat.turns.control import ControlDesk


class FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer whose first `failures` receives fail as a dropped Redis connection does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def receive(self, channel: str) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        return await super().receive(channel)


async def test_a_failed_read_is_retried_and_the_next_stop_reaches_its_turn(caplog):
    layer = FlakyLayer(failures=2)
    desk = ControlDesk(layer, own_instance=True)  # its own layer, as under Redis
    await desk.start()
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    try:
        await desk.join(7, received.put)
        await layer.group_send("turn.7", {"type": "turn.stop", "conversation_id": 7})
        event = await asyncio.wait_for(received.get(), timeout=5)
        assert event["type"] == "turn.stop"
        assert desk.usable(), "the desk's task died on the failed read"
        assert "could not read its channel" in caplog.text, "the broken read was not logged"
    finally:
        await desk.close()
