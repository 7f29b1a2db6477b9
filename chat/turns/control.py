"""Steering running turns from any tab on any process: stop, tool confirmations and sync requests.

A tab's consumer sends `turn.stop`, `turn.confirm` or `turn.sync` to the group `turn.<conversation>`.
One channel per process (the desk) is in the groups of the turns running there and hands each
event to its turn: no listener task and no layer connection per turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


def control_group(conversation_id: int) -> str:
    return f"turn.{conversation_id}"


async def send_control(conversation_id: int, event: dict[str, Any]) -> None:
    await get_channel_layer().group_send(control_group(conversation_id), {**event, "conversation_id": conversation_id})


class ControlDesk:
    """Receives the control events of every turn of this process and calls that turn's handler."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.loop = asyncio.get_running_loop()
        self.channel = ""
        self.task: asyncio.Task[None] | None = None
        self.handlers: dict[int, Handler] = {}

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        self.task = asyncio.create_task(self._listen(), name="turn-control-desk")

    def usable(self) -> bool:
        current = asyncio.get_running_loop() is self.loop and self.task is not None and not self.task.done()
        return current and self.layer is get_channel_layer()

    async def join(self, conversation_id: int, handler: Handler) -> None:
        self.handlers[conversation_id] = handler
        await self.layer.group_add(control_group(conversation_id), self.channel)

    async def leave(self, conversation_id: int) -> None:
        self.handlers.pop(conversation_id, None)
        await self.layer.group_discard(control_group(conversation_id), self.channel)

    async def _listen(self) -> None:
        while True:
            event = await self.layer.receive(self.channel)  # a queue in this process, on either layer
            handler = self.handlers.get(event.get("conversation_id"))  # type: ignore[arg-type]
            if handler is None:
                continue
            try:
                await handler(event)
            except Exception:
                log.exception("Control event %s for conversation %s failed", event.get("type"), event.get("conversation_id"))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task], timeout=1)


_desk: ControlDesk | None = None
_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None


async def desk() -> ControlDesk:
    """This process's desk, started on first use (and again for a new event loop or layer, as in tests)."""
    global _desk, _lock
    loop = asyncio.get_running_loop()
    if _lock is None or _lock[0] is not loop:
        _lock = (loop, asyncio.Lock())
    async with _lock[1]:
        if _desk is not None and not _desk.usable():
            await close_desk()
        if _desk is None:
            desk_ = ControlDesk(get_channel_layer())
            await desk_.start()
            _desk = desk_
        return _desk


async def close_desk() -> None:
    global _desk
    desk_, _desk = _desk, None
    if desk_ is not None and desk_.loop is asyncio.get_running_loop():
        await desk_.close()
