"""A socket lives no longer than its session: closed at logout in every process, and re-checked on a timer.

Every socket joins a channel-layer group named after a keyed hash of its session key (the key
itself never leaves the session store). `user_logged_out` sends `session.ended` to that group;
expiry, a flushed session and a password change elsewhere are caught by the periodic re-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.auth import get_user
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils.crypto import salted_hmac

log = logging.getLogger(__name__)

SESSION_ENDED_CODE = 4401
SESSION_ENDED_EVENT = {"type": "session.ended"}


def group_name(session_key: str) -> str:
    return "session." + salted_hmac("chat.session_watch", session_key).hexdigest()[:40]


async def still_valid(session_key: str, user_id: Any) -> bool:
    """True while the stored session exists, is unexpired and still authenticates this user."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": store})
    return user.is_authenticated and user.pk == user_id


class SessionWatch:
    """Joins the session's group and re-checks the session every CHAT_SESSION_RECHECK_SECONDS."""

    def __init__(self, scope: dict[str, Any], channel_name: str) -> None:
        session = scope.get("session")
        self.session_key: str | None = session.session_key if session is not None else None
        self.user_id = scope["user"].pk
        self.channel_name = channel_name
        self.task: asyncio.Task | None = None
        self.ticks: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        if self.session_key is None:
            return
        await get_channel_layer().group_add(group_name(self.session_key), self.channel_name)
        self.task = asyncio.create_task(self._recheck())

    async def stop(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None
        if self.session_key is not None:
            await get_channel_layer().group_discard(group_name(self.session_key), self.channel_name)

    async def _recheck(self) -> None:
        interval = float(settings.CHAT_SESSION_RECHECK_SECONDS)
        while True:
            await asyncio.sleep(interval)
            try:
                valid = await still_valid(self.session_key, self.user_id)
                for tick in self.ticks:
                    await tick()
            except Exception:
                log.exception("Re-checking a socket's session failed; trying again later")
                continue
            if not valid:
                # Through the socket's own channel, so the consumer ends the way a logout ends it.
                await get_channel_layer().send(self.channel_name, SESSION_ENDED_EVENT)
                return


@receiver(user_logged_out, dispatch_uid="chat-session-watch-logout")
def close_sockets_at_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Called by Django's logout() before it flushes the session: tell every socket of it to close."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        async_to_sync(get_channel_layer().group_send)(group_name(session_key), SESSION_ENDED_EVENT)
