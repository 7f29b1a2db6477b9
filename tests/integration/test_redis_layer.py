"""The Redis channel layer (chat/layers/redis.py) between two processes, each played by a layer instance of
its own (its own process id, its own Redis connections), against the run's real Redis.

Each test gets a key prefix of its own and deletes its keys at the end. They run in make test's
scale-out pass (REDIS_URL set) and skip, saying why, without Redis.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from django.conf import settings
from redis import asyncio as aioredis

from chat.layers import RedisChannelLayer
from tests.support.layers import processes_in_group
from tests.support.metrics import counter_value

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL): runs in make test's scale-out pass")

NOTHING_MORE = 0.3  # how long a receive waits to show that nothing more arrives


@pytest.fixture
async def processes() -> AsyncIterator[Callable[..., RedisChannelLayer]]:
    """Make layers that share one key prefix, as the daphne processes of one site do; closed and cleaned after."""
    prefix = f"test-layer-{secrets.token_hex(4)}"
    made: list[RedisChannelLayer] = []

    def make(**config: Any) -> RedisChannelLayer:
        layer = RedisChannelLayer(**{"url": settings.REDIS_URL, "prefix": prefix, "capacity": 1000, **config})
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.close()
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def received(layer: RedisChannelLayer, channel: str, count: int) -> list[Any]:
    return [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(count)]


async def nothing_more(layer: RedisChannelLayer, channel: str) -> None:
    with pytest.raises(TimeoutError):
        extra = await asyncio.wait_for(layer.receive(channel), NOTHING_MORE)
        pytest.fail(f"{channel} got one more message: {extra}")


def between_processes(direction: str) -> float:
    return counter_value("chat_channel_layer_between_processes_total", direction=direction)


async def test_a_group_frame_reaches_each_member_in_each_process_once_and_in_order(processes):
    a, b = processes(), processes()
    a1, a2, b1 = await a.new_channel(), await a.new_channel(), await b.new_channel()
    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        await layer.group_add("conversation.1", channel)
    sent_before = between_processes("sent")

    await asyncio.gather(*(a.group_send("conversation.1", {"type": "chat.frame", "n": n}) for n in range(200)))

    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        assert await received(layer, channel, 200) == list(range(200)), channel
        await nothing_more(layer, channel)  # no echo through Redis for a's own members, nothing twice for b's
    assert between_processes("sent") - sent_before == 200  # one per frame: one other process had members


async def test_once_group_add_returns_the_next_frame_from_another_process_arrives(processes):
    a, b = processes(), processes()
    for n in range(20):  # a fresh group each time: the first member of a process is the case that talks to Redis
        channel = await b.new_channel()
        await b.group_add(f"conversation.{n}", channel)
        await a.group_send(f"conversation.{n}", {"type": "chat.frame", "n": n})
        assert await received(b, channel, 1) == [n]


async def test_a_process_whose_last_member_left_is_sent_nothing_more(processes):
    a, b = processes(), processes()
    a1, b1 = await a.new_channel(), await b.new_channel()
    await a.group_add("conversation.1", a1)
    await b.group_add("conversation.1", b1)
    assert set(await processes_in_group(a, "conversation.1")) == {a.process, b.process}

    await b.group_discard("conversation.1", b1)
    await a.group_send("conversation.1", {"type": "chat.frame", "n": 1})  # queued after b's leave: Redis has it first

    assert set(await processes_in_group(a, "conversation.1")) == {a.process}
    assert await received(a, a1, 1) == [1]
    await nothing_more(b, b1)


async def test_a_send_to_a_channel_of_another_process_reaches_it(processes):
    """What turn.sync's answer does: the turn's process sends to the reply channel of a socket on another."""
    a, b = processes(), processes()
    b1 = await b.new_channel()
    await a.send(b1, {"type": "chat.frame", "n": 7})
    assert await received(b, b1, 1) == [7]
    assert RedisChannelLayer.owner(b1) == b.process


async def test_a_membership_that_was_not_renewed_is_dropped_and_sent_nothing(processes):
    """A process that died renews nothing: once its membership's expiry passes, no frame goes to it."""
    a, dead = processes(), processes()
    await a.group_add("conversation.1", await a.new_channel())
    await dead.group_add("conversation.1", await dead.new_channel())
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await client.zadd(a.group_key("conversation.1"), {dead.process: 1.0})  # expired long ago
    finally:
        await client.aclose()
    sent_before = between_processes("sent")

    await a.group_send("conversation.1", {"type": "chat.frame", "n": 1})

    assert set(await processes_in_group(a, "conversation.1")) == {a.process}
    assert between_processes("sent") == sent_before


async def test_memberships_come_back_after_redis_dropped_the_process_and_forgot_them(processes):
    """Redis restarted empty: b's connections are cut and its memberships gone. b's inbox subscribes again and
    renews them, so frames from a reach b's member again, within a bound."""
    a, b = processes(), processes()
    b1 = await b.new_channel()
    await b.group_add("conversation.1", b1)
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await client.delete(b.group_key("conversation.1"))
        for line in await client.client_list():
            if line.get("name") == f"{b.prefix}:{b.process}":
                await client.client_kill_filter(_id=line["id"])
    finally:
        await client.aclose()

    deadline = asyncio.get_running_loop().time() + 10
    while True:
        await a.group_send("conversation.1", {"type": "chat.frame", "n": 1})
        try:
            assert (await asyncio.wait_for(b.receive(b1), 0.2))["n"] == 1
            break
        except TimeoutError:
            assert asyncio.get_running_loop().time() < deadline, "b's membership never came back"
    assert b.process in await processes_in_group(a, "conversation.1")


async def test_without_redis_this_processs_sockets_still_get_frames_and_the_rest_is_counted(processes):
    """Only the first socket waits (at most the socket timeout) for an inbox that cannot subscribe; the next
    ones connect at once, or every connect would take that long while Redis is down."""
    unreachable = processes(url="redis://127.0.0.1:1/0", socket_timeout=2)
    channel = await unreachable.new_channel()  # bounded: the inbox cannot subscribe
    await unreachable.group_add("conversation.1", channel)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(10):
        await unreachable.group_add(f"conversation.{n + 2}", await unreachable.new_channel())
    assert loop.time() - started < 2, "each new socket waited for Redis again"
    dropped_before = counter_value("chat_channel_layer_dropped_total", kind="redis")

    await unreachable.group_send("conversation.1", {"type": "chat.frame", "n": 1})
    await unreachable.group_send("conversation.1", {"type": "chat.frame", "n": 2})

    assert await received(unreachable, channel, 2) == [1, 2]
    assert counter_value("chat_channel_layer_dropped_total", kind="redis") - dropped_before == 2
