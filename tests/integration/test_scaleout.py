"""Two real daphne processes on PostgreSQL and Redis: one reply per conversation, streams that cross
processes, turns whose process dies, and a Redis layer that lasts.

These run in the scale-out pass of `make test` (DATABASE_URL on PostgreSQL and REDIS_URL set) and
skip, saying why, on the embedded defaults, where several processes cannot share the channel layer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from chat import services
from tests.support.daphne import Daphne, database_url, launch_daphne, server_env, stop_all, wait_until_serving
from tests.support.live_socket import live_socket, receive, send, send_message
from tests.support.socket import reply_text, session_cookie
from tests.support.stored import stored

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.scaleout,
    pytest.mark.skipif(
        not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): several processes share them",
    ),
]


@pytest.fixture
def start_servers(tmp_path: Path) -> Iterator[Callable[..., list[Daphne]]]:
    """Start daphne processes on this test's database and Redis; each is stopped after the test."""
    started: list[Daphne] = []

    def start(count: int = 1, **overrides: str) -> list[Daphne]:
        env = server_env({
            "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": settings.REDIS_URL,
            "LLM_PROVIDERS": "", "LLM_PROVIDERS_FILE": "", "MCP_SERVERS_FILE": "",
            "DEMO_TOKEN_DELAY_SECONDS": "0.05", "CHAT_RATE_LIMIT_MESSAGES": "100000", "CHAT_MAX_CONCURRENT_REPLIES": "1000",
            "CHAT_MAX_SOCKETS_PER_PERSON": "1000",
            "CHAT_TURN_LEASE_SECONDS": "3", "CHAT_TURN_SWEEP_SECONDS": "0.5", **overrides,
        })
        launched = [launch_daphne(env, tmp_path, name=f"daphne-{len(started) + n}") for n in range(count)]
        started.extend(launched)
        return wait_until_serving(launched)

    yield start
    stop_all(started, grace=3)
    with connection.cursor() as cursor:  # a killed server's sessions must not block dropping the test database
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )


@database_sync_to_async
def new_conversation(user: Any) -> int:
    return services.conversation_create(owner=user, first_text="shared").pk


async def test_a_reply_started_on_one_process_streams_to_a_tab_on_the_other(user, start_servers):
    first, second = start_servers(2)
    cookie = await session_cookie(user)
    conversation_id = await new_conversation(user)
    async with live_socket(first.ws_url, cookie) as writer, live_socket(second.ws_url, cookie) as reader:
        await send(reader, "conversation.open", conversation_id=conversation_id, last_seq=0)
        await receive(reader, "conversation.opened")
        await send_message(writer, "hello from the first process", conversation_id)
        written, read = [], []
        await receive(writer, "turn.finished", seen=written)
        await receive(reader, "turn.finished", seen=read)

    rows = await stored(conversation_id)
    assert [(m.role, m.status) for m in rows] == [("user", "complete"), ("assistant", "complete")]
    assert reply_text(read) == reply_text(written) == rows[1].content and "offline demo model" in rows[1].content
    assert [f["type"] for f in read][:2] == ["message.created", "assistant.started"]


async def test_two_tabs_on_two_processes_sending_at_the_same_instant_give_exactly_one_reply(user, start_servers):
    first, second = start_servers(2, DEMO_TOKEN_DELAY_SECONDS="0.01")
    cookie = await session_cookie(user)
    for trial in range(5):
        conversation_id = await new_conversation(user)
        async with live_socket(first.ws_url, cookie) as one, live_socket(second.ws_url, cookie) as two:
            await asyncio.gather(
                send_message(one, "first", conversation_id, client_id=f"one-{trial}"),
                send_message(two, "second", conversation_id, client_id=f"two-{trial}"),
            )
            answers = await asyncio.gather(*(_answer(ws) for ws in (one, two)))
            winner = (one, two)[[a["type"] for a in answers].index("message.created")]
            await receive(winner, "turn.finished")
        assert sorted((a["type"], a.get("code")) for a in answers) == [("error", "busy"), ("message.created", None)]
        assert [m.role for m in await stored(conversation_id)] == ["user", "assistant"], f"trial {trial}"


async def _answer(ws: Any) -> dict[str, Any]:
    """The frame that answers a send: message.created, or the error refusing it."""
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("message.created", "error"):
                return frame


async def test_a_turn_whose_process_is_killed_is_marked_interrupted_and_the_conversation_accepts_a_new_message(
    user, start_servers
):
    doomed, survivor = start_servers(2)  # killed at its first delta, 2 s before its reply would end
    cookie = await session_cookie(user)
    conversation_id = await new_conversation(user)
    async with live_socket(doomed.ws_url, cookie) as writer:
        await send_message(writer, "tell me a long story", conversation_id)
        await receive(writer, "assistant.delta")
    doomed.kill()

    async with live_socket(survivor.ws_url, cookie) as tab:
        await send(tab, "conversation.open", conversation_id=conversation_id, last_seq=0)
        seen: list[dict[str, Any]] = []
        ended = await receive(tab, "turn.finished", seen=seen, timeout=15)
        interrupted = [f for f in seen if f["type"] == "assistant.completed" and f["status"] == "failed"]
        assert interrupted and interrupted[-1]["error"] == services.INTERRUPTED
        assert (ended["status"], ended["error"]) == ("failed", services.INTERRUPTED)
        await send_message(tab, "are you back?", conversation_id)
        again: list[dict[str, Any]] = []
        finished = await receive(tab, "turn.finished", seen=again, timeout=20)

    assert finished["status"] == "complete"
    rows = await stored(conversation_id)
    assert [(m.role, m.status, m.error) for m in rows] == [
        ("user", "complete", ""), ("assistant", "failed", services.INTERRUPTED),
        ("user", "complete", ""), ("assistant", "complete", ""),
    ]


async def test_idle_sockets_outlive_many_redis_read_timeouts_and_a_long_reply_can_still_be_stopped(
    user, other_user, start_servers
):
    """Under channels_redis, whose 5 s blocking read met redis-py's 5 s socket timeout, idle sockets died in 5-24 s
    (4 of 5 within 24 s); the Redis layer must keep idle sockets, and a turn's stop must still reach it much later.

    Time is scaled down: this server's Redis socket timeout is 1 s (REDIS_SOCKET_TIMEOUT_SECONDS) and its turn
    lease 3 s, so 8 s idle spans eight read timeouts and the reply, stopped after 6 s, outlives two leases (the
    minute this took at 5 s was most of the scale-out pass). Three idle sockets: under the old bug all three
    surviving eight timeouts is far less likely than one surviving a minute at 5 s.
    The idle sockets are another person's: a socket of the writer's would hear about the reply (`conversation.writing`).
    """
    (server,) = start_servers(1, DEMO_TOKEN_DELAY_SECONDS="0.3", REDIS_SOCKET_TIMEOUT_SECONDS="1")
    cookie = await session_cookie(user)
    idle_cookie = await session_cookie(other_user)

    async def idle(n: int) -> dict[str, Any]:
        async with live_socket(server.ws_url, idle_cookie) as ws:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), timeout=8)  # nothing should arrive, and the socket must live
            await send(ws, "ping", nonce=f"idle-{n}")
            return await receive(ws, "pong")

    async def long_reply() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with live_socket(server.ws_url, cookie) as ws:
            seen: list[dict[str, Any]] = []
            await send_message(ws, "tell me something slowly")
            first = await receive(ws, "assistant.delta", seen=seen)
            with pytest.raises(AssertionError):
                await receive(ws, "turn.finished", seen=seen, timeout=6)  # still writing after 6 s
            await send(ws, "generation.stop", conversation_id=first["conversation_id"])
            return await receive(ws, "turn.finished", seen=seen, timeout=5), seen

    *pongs, (ended, seen) = await asyncio.gather(*(idle(n) for n in range(3)), long_reply())
    assert [pong["nonce"] for pong in pongs] == ["idle-0", "idle-1", "idle-2"]
    assert ended["status"] == "stopped"
    assert "Timeout reading" not in server.log_tail(), server.log_tail()[-2000:]
    rows = await stored(ended["conversation_id"])
    assert (rows[-1].status, rows[-1].content) == ("stopped", reply_text(seen))


async def test_a_hundred_concurrent_replies_lose_nothing(user, start_servers):
    first, second = start_servers(2, DEMO_TOKEN_DELAY_SECONDS="0.02", CHAT_TURN_LEASE_SECONDS="30")
    cookie = await session_cookie(user)

    async def one(n: int) -> tuple[int, str]:
        server = (first, second)[n % 2]
        async with live_socket(server.ws_url, cookie) as ws:
            seen: list[dict[str, Any]] = []
            await send_message(ws, f"reply number {n}", client_id=f"hundred-{n}")
            ended = await receive(ws, "turn.finished", seen=seen, timeout=60)
            assert ended["status"] == "complete", ended
            return ended["conversation_id"], reply_text(seen)

    results = await asyncio.gather(*(one(n) for n in range(100)))
    assert len({cid for cid, _ in results}) == 100
    for conversation_id, text in results:
        rows = await stored(conversation_id)
        assert [m.status for m in rows] == ["complete", "complete"] and rows[1].content == text and text


async def test_clearing_the_test_cache_leaves_the_channel_layer_and_other_runs_alone():
    """Under pytest-xdist two workers share one Redis: a test that clears its cache must not FLUSHDB,
    which erased the other worker's groups and left its reply with no socket to reach (tests/support/cache.py)."""
    from channels.layers import get_channel_layer
    from django.core.cache import cache

    from tests.support.cache import clear_own_cache
    from tests.support.layers import group_members

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("conversation.1", channel)
    other_run = cache._cache.get_client(None, write=True)  # another worker's key, under its own prefix
    await database_sync_to_async(other_run.set)("another-run:1:limit", "7")
    await database_sync_to_async(cache.set)("limit", "3")
    try:
        await database_sync_to_async(clear_own_cache)()
        assert await database_sync_to_async(cache.get)("limit") is None
        assert await database_sync_to_async(other_run.get)("another-run:1:limit") == b"7"
        assert channel in await group_members("conversation.1")
    finally:
        await layer.group_discard("conversation.1", channel)
        await database_sync_to_async(other_run.delete)("another-run:1:limit")
