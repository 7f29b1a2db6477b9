"""Fan-out: frames to every tab of a conversation, on any process, and reply text merged under load."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer

from chat import metrics
from chat.frames import assistant_delta
from chat.models import Message

log = logging.getLogger(__name__)


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


async def publish(conversation_id: int, frame: dict[str, Any], *, skip: str = "") -> None:
    """Send a frame to every socket following the conversation but `skip` (a channel already sent it)."""
    event = {"type": "chat.frame", "frame": frame, "skip": skip, "at": metrics.stamp()}
    await metrics.layer_publish(get_channel_layer().group_send(conversation_group(conversation_id), event))


class LoopLag:
    """How late this process's event loop runs its callbacks, smoothed: a task that notes how much it oversleeps.

    A publish into the in-memory layer never waits, so "one publish in flight" alone merges nothing
    while the sockets' queues grow behind it. The lag is the signal that the process is behind.
    """

    PERIOD = 0.05

    def __init__(self) -> None:
        self.seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._measure(), name="loop-lag")

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.PERIOD)
            late = max(0.0, loop.time() - start - self.PERIOD)
            self.seconds = 0.7 * self.seconds + 0.3 * late


loop_lag = LoopLag()


def merge_window() -> float:
    """How long a reply holds its next delta to merge what follows: nothing while the loop keeps up."""
    from django.conf import settings

    return min(settings.CHAT_DELTA_MAX_MERGE_SECONDS, 2 * loop_lag.seconds)


class ReplyText:
    """The growing text of one assistant message, published as `assistant.delta` frames.

    At most one publish is in flight per reply: text that arrives while one is in flight goes out
    with the next, in one delta. While the event loop lags, a publish also holds the next one back
    for twice the lag (at most CHAT_DELTA_MAX_MERGE_SECONDS), so when the process falls behind the
    frame rate drops and the delay stays bounded, instead of a queue of one frame per token per
    socket growing without bound.
    """

    def __init__(self, message: Message) -> None:
        self.message = message
        # Pieces, joined only when the whole text is read (a save, the end, a resync): appending to one
        # string per token copied the reply so far each time, quadratic in its length.
        self._parts: list[str] = []
        self._unsent: list[str] = []  # what the next delta carries
        self._published = 0
        self._in_flight: asyncio.Task[None] | None = None
        self._flushing = self._holding = False
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests hold the merge window open
        self.frames = 0  # deltas published, for tests and benches

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def add(self, piece: str) -> None:
        self._parts.append(piece)
        self._unsent.append(piece)
        if self._in_flight is None or self._in_flight.done():
            loop_lag.ensure_running()
            self._in_flight = asyncio.create_task(self._publish_pending())

    async def flush(self) -> None:
        """Publish everything added so far, at once; the reply's next frame may follow it."""
        self._flushing = True
        if self._in_flight is not None and not self._in_flight.done():
            if self._holding:
                self._in_flight.cancel()  # held back for a merge window: what it holds goes now
            await asyncio.wait([self._in_flight])
        await self._publish_pending()

    def cancel(self) -> None:
        if self._in_flight is not None:
            self._in_flight.cancel()

    async def _publish_pending(self) -> None:
        while self._unsent:
            piece = "".join(self._unsent)
            self._unsent.clear()
            offset, self._published = self._published, self._published + len(piece)
            self.frames += 1
            try:
                await publish(self.message.conversation_id, assistant_delta(self.message, offset, piece))
            except Exception:
                # A lost delta is not lost text: tabs notice the offset gap and resync from the turn.
                log.exception("Publishing reply text in conversation %s failed", self.message.conversation_id)
            if (window := merge_window()) > 0.001 and not self._flushing:
                self._holding = True
                try:
                    await self.sleep(window)
                finally:
                    self._holding = False
