"""The leases of every turn this process runs, renewed together: one UPDATE per interval, not one per turn.

A turn holds its conversation by a lease (`Conversation.turn_token`, `turn_lease_until`) that must be
renewed before it expires, or another process's sweep takes it for dead. 200 turns renewing on their
own timers made 200 UPDATEs every `CHAT_TURN_LEASE_SECONDS / 3`; here one task renews them all with
one UPDATE (and a SELECT only when a turn lost its lease, to learn which). A turn whose lease is gone
(swept, or taken over) is told through its `on_lost` and stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from chat import services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    conversation_id: int
    on_lost: Callable[[], None]


_held: dict[str, Held] = {}  # lease token -> its turn
_task: asyncio.Task[None] | None = None


def hold(token: str, conversation_id: int, on_lost: Callable[[], None]) -> None:
    """Renew this turn's lease with the others until `release(token)`; call `on_lost` if it is taken away."""
    global _task
    _held[token] = Held(conversation_id, on_lost)
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_renew_while_held(), name="turn-lease-keeper")


def release(token: str) -> None:
    _held.pop(token, None)


async def stop() -> None:
    """Stop renewing (shutdown, and the end of each test: the task must not wake in the next one)."""
    global _task
    task, _task = _task, None
    _held.clear()
    if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
        task.cancel()
        await asyncio.wait([task], timeout=1)


async def _renew_while_held() -> None:
    while _held:
        lease = float(settings.CHAT_TURN_LEASE_SECONDS)
        await asyncio.sleep(lease / 3)
        batch = dict(_held)
        if not batch:
            return
        try:
            kept = await database_sync_to_async(services.turn_leases_renew)(tokens=list(batch), lease_seconds=lease)
        except Exception:
            log.exception("Renewing the leases of %d turns failed; retrying in %.1f s", len(batch), lease / 3)
            continue
        for token, held in batch.items():
            if token not in kept and _held.pop(token, None) is not None:
                log.warning("Turn in conversation %s lost its lease; stopping it", held.conversation_id)
                held.on_lost()
