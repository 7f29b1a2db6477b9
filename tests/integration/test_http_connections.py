"""HTTP requests through the real ASGI application keep their database connections (chatsite/http_threads.py).

Django gave every request a new thread and with it a new database connection, and a reply sent through the
API opened one more after its request ended: on PostgreSQL a new server process each time. These tests count
`connection_created` in this process while requests go through `chatsite.asgi.application`, as daphne calls it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import HttpCommunicator
from django.db.backends.signals import connection_created

from chat.api import meta
from chat.models import Message
from chatsite.asgi import application
from tests.support.api import API, token_for, turn_done
from tests.support.socket import session_cookie
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


async def call(path: str, *, method: str = "GET", body: Any = None, **headers: str) -> dict[str, Any]:
    """One request through the site's ASGI application, to its end (request_finished included); its status and body."""
    sent = [(b"host", b"localhost"), *((name.lower().encode(), value.encode()) for name, value in headers.items())]
    if body is not None:
        sent.append((b"content-type", b"application/json"))
    communicator = HttpCommunicator(application, method, path, body=json.dumps(body).encode() if body else b"",
                                    headers=sent)
    response = await communicator.get_response(timeout=10)
    await communicator.wait(10)
    return response


@pytest.fixture
def connections_opened() -> Iterator[list[str]]:
    """Every database connection this process connects, in any thread, while the test runs: on PostgreSQL
    its server process id (under DATABASE_POOL a connection taken from the pool connects Django again, on a
    server process the pool already had), elsewhere a new name each time."""
    opened: list[str] = []

    def count(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor == "postgresql":
            opened.append(f"postgresql pid {connection.connection.info.backend_pid}")
        else:
            opened.append(f"{connection.vendor} #{len(opened)}")

    connection_created.connect(count)
    yield opened
    connection_created.disconnect(count)


async def send_and_wait_for_the_reply(token: str, text: str) -> int:
    """POST /api/v1/messages into a new conversation and wait (at most 10 s) for its reply to be written."""
    answer = await call(f"{API}/messages", method="POST", body={"text": text}, Authorization=f"Bearer {token}")
    assert answer["status"] == 202, answer
    conversation_id = json.loads(answer["body"])["conversation_id"]
    await turn_done(conversation_id)
    return conversation_id


async def test_requests_and_the_replies_they_start_open_no_database_connection_after_warm_up(
    user, settings, connections_opened
):
    settings.DEMO_TOKEN_DELAY_SECONDS = 0
    token, cookie = await token_for(user), await session_cookie(user)
    bearer = {"Authorization": f"Bearer {token}"}

    async def a_round(text: str) -> list[int]:
        assert (await call(f"{API}/conversations", **bearer))["status"] == 200
        assert (await call("/", Cookie=cookie))["status"] == 200  # the chat page: a sync view, the session read
        return [await send_and_wait_for_the_reply(token, f"{text} {n}") for n in range(3)]

    await a_round("warm-up")  # each thread's first connection, made once
    warm = set(connections_opened)
    conversations = [n for _ in range(3) for n in await a_round("hello")]

    new = [c for c in connections_opened if c not in warm]
    assert new == [], (
        f"{len(new)} database connections opened for 3 rounds of 2 requests and 3 sent messages with "
        f"their replies, after a warm-up that opened {len(warm)}"
    )
    for conversation_id in conversations:
        rows = await stored(conversation_id)
        assert [(m.role, m.status) for m in rows] == [
            (Message.Role.USER, Message.Status.COMPLETE), (Message.Role.ASSISTANT, Message.Status.COMPLETE),
        ]


async def test_a_request_held_in_its_synchronous_part_does_not_hold_up_the_next_one(user, monkeypatch):
    """A slow synchronous request (a login's password hashing) runs on one of HTTP_THREADS threads; the next
    request is served on another meanwhile, as it was when every request had a thread of its own."""
    token = await token_for(user)
    bearer = {"Authorization": f"Bearer {token}"}
    entered, release = threading.Event(), threading.Event()
    load_providers = meta.load_providers

    def held() -> Any:
        entered.set()
        assert release.wait(10), "the held request was never released"
        return load_providers()

    monkeypatch.setattr(meta, "load_providers", held)  # GET /api/v1/providers is a sync view
    slow = asyncio.ensure_future(call(f"{API}/providers", **bearer))
    try:
        assert await asyncio.to_thread(entered.wait, 10), "the held request never started"
        quick = await asyncio.wait_for(call(f"{API}/me", **bearer), 5)
        assert quick["status"] == 200 and json.loads(quick["body"])["username"] == user.username
        assert not slow.done()
    finally:
        release.set()
    assert (await asyncio.wait_for(slow, 10))["status"] == 200
