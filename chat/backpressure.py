"""Replays wait for the socket's send buffer, so a page that stops reading is sent little more than it read.

A replay page is up to CHAT_REPLAY_MAX_CHARS of text, and a person may ask for CHAT_REPLAYS_PER_MINUTE
of them. A client that asks and never reads used to make the server hold every page it asked for in the
socket's write buffer until daphne's ping bound dropped the socket (~16 MB for 20 pages). Under daphne
each WebSocket's scope carries a callable that says how many bytes wait unsent in its transport
(chatsite/daphne_options.py, `expose_send_buffer`); between the frames of a replay, the consumer waits while
more than CHAT_SEND_BUFFER_BYTES wait, and closes the socket with NOT_READING_CODE when they stay over for
CHAT_SEND_BUFFER_WAIT_SECONDS. Another ASGI server, or a test's communicator, gives no such callable:
there replays go out without waiting, bounded per page and per person as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.conf import settings

EXTENSION = "chatsite.send_buffer"
NOT_READING_CODE = 4408  # the page did not read what it was sent: it reconnects and asks again
POLL_SECONDS = 0.02


def unsent_bytes(scope: dict[str, Any]) -> Callable[[], int] | None:
    return scope.get("extensions", {}).get(EXTENSION)


async def drained(scope: dict[str, Any]) -> bool:
    """True once at most CHAT_SEND_BUFFER_BYTES wait unsent; False if more waited for CHAT_SEND_BUFFER_WAIT_SECONDS."""
    unsent = unsent_bytes(scope)
    limit = settings.CHAT_SEND_BUFFER_BYTES
    if unsent is None or unsent() <= limit:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.CHAT_SEND_BUFFER_WAIT_SECONDS
    while unsent() > limit:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
