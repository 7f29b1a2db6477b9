"""Database writes of a turn: shielded from a stop, and interim saves that never multiply."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.db import database_sync_to_async

from chat import metrics, services
from chat.models import Message

log = logging.getLogger(__name__)


async def create(conversation_id: int, **fields: Any) -> Message:
    return await metrics.db_save("create", asyncio.shield(
        database_sync_to_async(services.message_create)(conversation_id=conversation_id, **fields)))


async def update(message: Message, **fields: Any) -> None:
    # Shielded: a stop arriving mid-write must not lose the write that records the stop.
    # The in-memory updated_at follows the row: a tool card's duration is computed from it (chat/frames.py).
    message.updated_at = await metrics.db_save(
        "final", asyncio.shield(database_sync_to_async(services.message_update)(message_id=message.pk, **fields))
    )


async def save_text(message: Message, text: str) -> None:
    """An interim save of a growing reply, committed together with every other reply's (GroupCommit)."""
    await asyncio.shield(group_commit().save(message.pk, text))


class GroupCommit:
    """Interim saves of every reply in this process: one transaction for all that queued during the last.

    Each reply saves every CHAT_SAVE_INTERVAL_SECONDS, so 100 replies at once would make 400
    commits a second, each its own round trip (and on SQLite its own fsync) on channels' one
    database thread, where a new turn's accept and history read then queue behind them. Written
    together, the commits per second stay what the database can do, whatever the number of replies,
    and nothing waits longer than one batch. Under light load a batch holds one save: no added delay.
    """

    def __init__(self, write: Callable[[dict[int, str]], Awaitable[None]] | None = None) -> None:
        self.write = write or database_sync_to_async(services.message_contents_save)
        self._queued: dict[int, tuple[str, asyncio.Future[None]]] = {}
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written, for tests and benches

    async def save(self, message_id: int, text: str) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        replaced = self._queued.get(message_id)
        self._queued[message_id] = (text, done)
        if replaced is not None:  # a newer text of the same reply supersedes the queued one
            replaced[1].set_result(None)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_while_queued(), name="group-commit")
        await done

    async def _write_while_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, {}
            self.batches += 1
            try:
                await metrics.db_save("interim", self.write({message_id: text for message_id, (text, _) in batch.items()}))
            except Exception as error:
                for _, done in batch.values():
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in batch.values():
                    if not done.done():
                        done.set_result(None)


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit() -> GroupCommit:
    """This event loop's GroupCommit (one per process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    if loop not in _group_commits:
        _group_commits[loop] = GroupCommit()
    return _group_commits[loop]


class HasText(Protocol):
    @property
    def text(self) -> str: ...


class InterimSaver:
    """Saves a growing reply's text at most once per interval, with at most one save in flight.

    One task per reply does the saves one after another, each at least an interval after the start
    of the previous one: a slow database lowers the number of writes instead of queueing one per
    token (writes per reply <= duration / interval + 1). Text that arrives and then stalls is still
    saved within an interval, so a crash loses at most an interval of text.
    `clock` and `sleep` are attributes so tests can drive time.
    """

    def __init__(self, message: Message, interval: float) -> None:
        self.message = message
        self.interval = interval
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._started_at = time.monotonic()
        self._latest: str | HasText = ""
        self._saved = ""
        self._task: asyncio.Task[None] | None = None
        self._saving = False
        self.writes = 0

    def note(self, text: str | HasText) -> None:
        """The reply's text now: a string, or its ReplyText, read only when a save begins."""
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._save_while_behind())

    def _current(self) -> str:
        return self._latest if isinstance(self._latest, str) else self._latest.text

    async def settle(self) -> None:
        """Before the final write: let a save in flight finish (it must not overtake), drop one not begun."""
        if self._task is None or self._task.done():
            return
        if not self._saving:
            self._task.cancel()
        await asyncio.wait([self._task])

    async def _save_while_behind(self) -> None:
        while self._current() != self._saved:
            wait = self._started_at + self.interval - self.clock()
            if wait > 0:
                await self.sleep(wait)
            text, self._started_at = self._current(), self.clock()
            self._saving, self.writes = True, self.writes + 1
            try:
                await save_text(self.message, text)
            except Exception:
                log.exception("Interim save of message %s failed; the final save still runs", self.message.pk)
            finally:
                self._saving = False
            self._saved = text
