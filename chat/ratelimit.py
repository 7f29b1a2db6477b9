"""Per-person limits shared by every socket of every process, kept in Django's cache.

Messages: a fixed window per person that opens at their first message. Sockets: a person holds
at most N leases ("slots"), each renewed by its socket's session re-check and released when it
closes; a crashed process's leases lapse after CHAT_SOCKET_LEASE_SECONDS. Under Redis every
step is atomic; under the database cache the steps of one process are serialised (one ORM
thread) but two processes may race and overshoot by a message or a socket.
"""

from __future__ import annotations

import math
import time
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from chat import metrics
from chat.protocol import ClientError, ErrorCode

TOO_MANY_SOCKETS_CODE = 4429
_SLOTS_PER_READ = 32


def _hit(key: str, limit: int, window: float) -> float | None:
    """Count one event in key's window; the seconds until the window reopens when over the limit.

    An event inside an open window costs a get and an incr: 7 queries on the database cache, where
    add-then-get-then-add-then-incr cost 17 before every message a person sent. `add` (atomic in every
    backend) still decides who opens a window and who creates its count."""
    now = time.time()
    cache_timeout = math.ceil(window) + 1
    start_key = f"{key}:start"
    start = cache.get(start_key)
    if start is None:
        if cache.add(start_key, now, timeout=cache_timeout):
            start = now
        else:  # another socket or process opened the window a moment ago
            start = cache.get(start_key, now)
    if now >= start + window:  # the stored start outlived its window by up to a second
        start = now
        cache.set(start_key, start, timeout=cache_timeout)
    count_key = f"{key}:{start:.6f}"
    try:
        count = cache.incr(count_key)
    except ValueError:  # the window's first event (or its count just expired)
        count = 1 if cache.add(count_key, 1, timeout=cache_timeout) else _incr_or_one(count_key, cache_timeout)
    if count > limit:
        return max(start + window - now, 0.001)
    return None


def _incr_or_one(count_key: str, cache_timeout: int) -> int:
    """Someone else created the count between our incr and our add: count on it, unless it expired meanwhile."""
    try:
        return cache.incr(count_key)
    except ValueError:
        cache.set(count_key, 1, timeout=cache_timeout)
        return 1


async def check_message(user: Any, client_id: str | None) -> None:
    """Raise rate_limited when this person sent CHAT_RATE_LIMIT_MESSAGES in the window, from any socket."""
    limit, window = int(settings.CHAT_RATE_LIMIT_MESSAGES), float(settings.CHAT_RATE_LIMIT_WINDOW_SECONDS)
    retry_after = await database_sync_to_async(_hit)(f"chat:rate:messages:{user.pk}", limit, window)
    if retry_after is not None:
        metrics.rate_limited("messages")
        seconds = math.ceil(retry_after)
        raise ClientError(
            ErrorCode.RATE_LIMITED,
            f"Too many messages: at most {limit} every {window:g} s. Try again in {seconds} s.",
            client_id,
            retry_after=seconds,
        )


def check_api_write(user: Any) -> None:
    """Raise rate_limited past API_RATE_LIMIT_PER_MINUTE API writes per person (synchronous: API auth runs in a thread)."""
    limit = int(settings.API_RATE_LIMIT_PER_MINUTE)
    retry_after = _hit(f"chat:rate:api:{user.pk}", limit, 60.0)
    if retry_after is not None:
        metrics.rate_limited("api")
        seconds = math.ceil(retry_after)
        raise ClientError(
            ErrorCode.RATE_LIMITED,
            f"Too many API writes: at most {limit} a minute. Try again in {seconds} s.",
            retry_after=seconds,
        )


async def check_replay(user: Any) -> None:
    """Raise rate_limited past CHAT_REPLAYS_PER_MINUTE replay pages (conversation.open, history.before) per person.

    Each page is bounded (CHAT_REPLAY_MESSAGES, CHAT_REPLAY_MAX_CHARS); this bounds how much one
    person can make the server hold for sockets that do not read.
    """
    limit = int(settings.CHAT_REPLAYS_PER_MINUTE)
    retry_after = await database_sync_to_async(_hit)(f"chat:rate:replays:{user.pk}", limit, 60.0)
    if retry_after is not None:
        metrics.rate_limited("replays")
        seconds = math.ceil(retry_after)
        raise ClientError(
            ErrorCode.RATE_LIMITED,
            f"Too many conversations opened: at most {limit} a minute. Try again in {seconds} s.",
            retry_after=seconds,
        )


class SocketSlot:
    """One of the at most CHAT_MAX_SOCKETS_PER_PERSON sockets a person may hold open."""

    def __init__(self, user: Any, channel_name: str) -> None:
        self.user_id = getattr(user, "pk", None)
        self.channel_name = channel_name
        self.key: str | None = None

    @staticmethod
    def lease_seconds() -> int:
        return math.ceil(float(settings.CHAT_SOCKET_LEASE_SECONDS))

    def _acquire(self) -> str | None:
        limit = int(settings.CHAT_MAX_SOCKETS_PER_PERSON)
        for first in range(0, limit, _SLOTS_PER_READ):  # cost grows with sockets held, not with the limit
            keys = [f"chat:sockets:{self.user_id}:{i}" for i in range(first, min(first + _SLOTS_PER_READ, limit))]
            held = cache.get_many(keys)
            for key in keys:
                if key not in held and cache.add(key, self.channel_name, timeout=self.lease_seconds()):
                    return key
        return None

    async def acquire(self) -> bool:
        self.key = await database_sync_to_async(self._acquire)()
        return self.key is not None

    def refusal(self) -> dict[str, Any]:
        limit = int(settings.CHAT_MAX_SOCKETS_PER_PERSON)
        metrics.rate_limited("sockets")
        return {
            "code": ErrorCode.RATE_LIMITED,
            "message": f"Too many open chat tabs: at most {limit}. Close one; this tab will reconnect by itself.",
        }

    def _renew(self) -> None:
        if self.key is not None and cache.get(self.key) == self.channel_name:
            cache.touch(self.key, self.lease_seconds())

    async def renew(self) -> None:
        """Called on every session re-check, so a live socket's lease never lapses."""
        await database_sync_to_async(self._renew)()

    def _release(self) -> None:
        if self.key is not None and cache.get(self.key) == self.channel_name:
            cache.delete(self.key)
        self.key = None

    async def release(self) -> None:
        await database_sync_to_async(self._release)()
