"""channels' in-memory channel layer, made cheap enough per message to carry streaming replies.

The stock layer scans every channel and group for expired messages on every receive, deep-copies
every message on every send, and starts a task per member for every group send. At 100 concurrent
replies the scan alone took 29% of the process's Python time (the turn-engine issue's profile).
Here the scan runs at most once a second, a message is copied shallowly (the engine and the
consumer never mutate an event after sending it; a consumer builds a new frame dict when it trims
a delta), and a group send puts the message in each member's queue before it returns.

A socket far behind fills its channel (`CHANNEL_CAPACITY`). Reply text dropped then is recovered
(the socket sees the offset gap and resyncs, and `assistant.completed` carries the whole text), but
a final frame (`assistant.completed`, `tool.finished`, `turn.finished`) would be lost for that
socket and leave its tab waiting. So a frame that is not reply text takes the place of the oldest
queued delta; only when none is queued is it dropped. Every drop is counted
(`chat_channel_layer_dropped_total`) and a lost frame is logged.

The Redis layer (`redis.py`) keeps its sockets' queues here too, and uses `deliver` and
`deliver_group` for what other processes send it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as StockInMemoryChannelLayer

from chat import metrics

log = logging.getLogger(__name__)


class InMemoryChannelLayer(StockInMemoryChannelLayer):
    CLEAN_EVERY_SECONDS = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self.deliver(channel, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        self.deliver_group(group, message)

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        """Put a message in a channel of this process; ChannelFull when it is full of frames that are not reply text."""
        queue = self._queue(channel)
        if queue.full():
            if _is_delta(message):
                metrics.layer_dropped("delta")
                raise ChannelFull(channel)
            if not _evict_oldest_delta(queue):
                metrics.layer_dropped("frame")
                log.warning("Channel %s is full: a %s frame was dropped for it", channel, _frame_type(message))
                raise ChannelFull(channel)
            metrics.layer_dropped("evicted")
        queue.put_nowait((time.time() + self.expiry, dict(message)))

    def deliver_group(self, group: str, message: dict[str, Any]) -> None:
        """Put a message in the channel of each of this process's members of the group (a full one misses it)."""
        for channel in list(self.groups.get(group, ())):
            try:
                self.deliver(channel, message)
            except ChannelFull:
                pass  # counted, and logged when it was not reply text

    def _queue(self, channel: str) -> asyncio.Queue[tuple[float, dict[str, Any]]]:
        # Not setdefault(channel, Queue()): that built a queue (and its Event) for every message and receive.
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at < self.CLEAN_EVERY_SECONDS:
            return
        self._cleaned_at = now
        super()._clean_expired()


def _frame_type(message: dict[str, Any]) -> str:
    frame = message.get("frame")
    return str(frame.get("type")) if isinstance(frame, dict) else str(message.get("type"))


def _is_delta(message: dict[str, Any]) -> bool:
    return _frame_type(message) == "assistant.delta"


def _evict_oldest_delta(queue: asyncio.Queue[tuple[float, dict[str, Any]]]) -> bool:
    """Drop the oldest queued reply delta (recoverable, see above); False when none is queued.

    asyncio.Queue keeps its items in the deque `_queue`; removing one frees a place as a get would.
    """
    held = queue._queue  # type: ignore[attr-defined]
    for index, (_, queued) in enumerate(held):
        if _is_delta(queued):
            del held[index]
            return True
    return False
