"""The channel layer for several processes: queues and groups stay in the process, Redis carries what crosses.

channels_redis keeps every socket's queue in Redis. A group frame cost four round trips (expire the
group, read it, expire each member's queue, a Lua push) and each process read its frames back with
a blocking pop: at 50 concurrent replies half of a process's time went to redis-py, and the
process fell seconds behind (bench/README.md). Here a socket's channel is a queue in its process,
as on the in-memory layer (the same capacity, eviction and counting), and Redis knows a group only
as the set of processes that have a member in it:

- the first member a process adds to a group adds the process to the group's sorted set (awaited:
  once `group_add` returns, every later frame to the group reaches this process);
- `group_send` puts the frame in this process's members' queues at once, then makes one Lua call
  that publishes it to each other process in the set (to none, when there is one process);
- each process subscribes to one Redis channel, its inbox, and hands what arrives to its members;
  `send` to a channel of another process (its name carries the process) goes to that inbox.

A process's commands go out in order through one pipeline, which takes whatever queued while the
previous batch was on the wire: frames keep their order, and a busy process sends fewer, larger
batches. Memberships expire (GROUP_TTL_SECONDS) unless the process renews them, so frames stop
going to a process that died; a process renews its own at once when its inbox subscribes again.

When Redis does not answer, frames to this process's sockets are still delivered; what was for
other processes is dropped, counted (`chat_channel_layer_dropped_total{kind="redis"}`) and warned
about, and for a second after a failure such frames are dropped without trying. Reply text a
socket misses is resynced by offset; other frames are lost for the sockets of other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import types
import weakref
from collections import deque
from typing import Any

import msgpack
from channels.exceptions import ChannelFull
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat import metrics
from chat.layers.memory import InMemoryChannelLayer

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 90.0  # a membership not renewed for this long is dropped (its process died)
RENEW_SECONDS = 30.0
DOWN_SECONDS = 1.0  # after a failed batch, frames for other processes are dropped this long without trying
MAX_BATCH = 500
PROCESS_ID_LENGTH = 16

# KEYS[1]: the group's processes, scored by when each membership expires.
# ARGV: now, the sending process, the inbox name's prefix, the packed frame. Returns how many processes got it.
FAN_OUT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local reached = 0
for _, process in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if process ~= ARGV[2] then
    reached = reached + redis.call('PUBLISH', ARGV[3] .. process, ARGV[4])
  end
end
return reached
"""


class RedisChannelLayer(InMemoryChannelLayer):
    """In-process queues and groups (the in-memory layer's), with Redis between processes."""

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "chatsite", socket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url, self.prefix, self.socket_timeout = url, prefix, socket_timeout
        self.process = secrets.token_hex(PROCESS_ID_LENGTH // 2)
        self._links: dict[asyncio.AbstractEventLoop, _Link] = {}

    def group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    def inbox(self, process: str) -> str:
        return f"{self.prefix}:inbox:{process}"

    @staticmethod
    def owner(channel: str) -> str | None:
        """The process a channel lives in (its name says so before the '!'); None for a name without one."""
        head, bang, _ = channel.partition("!")
        return head[-PROCESS_ID_LENGTH:] if bang and len(head) >= PROCESS_ID_LENGTH else None

    async def new_channel(self, prefix: str = "specific.") -> str:
        await self._link().listen()  # the inbox is subscribed before another process can be told the name
        return f"{prefix}{self.process}!{secrets.token_hex(6)}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        owner = self.owner(channel)
        if owner is None or owner == self.process:
            await super().send(channel, message)  # a name without a process stays in this one, as in memory
            return
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        await self._link().publish(self.inbox(owner), _pack("c", channel, message))

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        await self._link().join(group)

    async def group_discard(self, group: str, channel: str) -> None:
        await super().group_discard(group, channel)
        if group not in self.groups:
            self._link().leave(group)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await super().group_send(group, message)  # this process's own members, before anything goes to Redis
        await self._link().fan_out(group, _pack("g", group, message))

    def arrived(self, data: bytes) -> None:
        """A frame another process sent to this one's inbox: for a group's members here, or for one channel."""
        kind, target, message = msgpack.unpackb(data, raw=False)
        metrics.layer_between_processes("received")
        if kind == "g":
            self.deliver_group(target, message)
        else:
            with contextlib.suppress(ChannelFull):  # counted, and logged when it was not reply text
                self.deliver(target, message)

    async def ping(self) -> None:
        """Raise unless Redis answers (the readiness probe bounds it)."""
        await self._link().redis.ping()

    async def flush(self) -> None:
        await self.close()
        await super().flush()

    async def close(self) -> None:
        """Leave every group in Redis and close this event loop's connections (shutdown, the end of a test)."""
        link = self._links.pop(asyncio.get_running_loop(), None)
        if link is not None:
            await link.close()

    def _link(self) -> _Link:
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            link = self._links[loop] = _Link(self, loop)
            _close_with_loop(self, loop)
        return link


class _Link:
    """One event loop's Redis: the ordered pipeline of commands, the inbox reader, the renewal of memberships."""

    def __init__(self, layer: RedisChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer, self.loop = layer, loop
        self.redis = aioredis.Redis.from_url(
            layer.url, socket_timeout=layer.socket_timeout, socket_connect_timeout=layer.socket_timeout,
            socket_keepalive=True, retry=Retry(NoBackoff(), 1), client_name=f"{layer.prefix}:{layer.process}",
        )
        self.pending: deque[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = deque()
        self.sender: asyncio.Task[None] | None = None
        self.down_until = 0.0
        self.failures = 0
        self.joined: set[str] = set()  # groups this process has members in, as Redis is told
        self.reader: asyncio.Task[None] | None = None
        self.inbox_ready: asyncio.Future[None] = loop.create_future()
        self.first_wait: asyncio.Task[None] | None = None
        self.renewer: asyncio.Task[None] | None = None

    # --- commands, in order -------------------------------------------------------------------------

    def _queue(self, *command: Any, wait: bool = True) -> asyncio.Future[Any] | None:
        future = self.loop.create_future() if wait else None
        self.pending.append((command, future))
        if self.sender is None or self.sender.done():
            self.sender = self.loop.create_task(self._send_pending(), name="redis-layer-sender")
        return future

    async def _send_pending(self) -> None:
        while self.pending:
            batch = [self.pending.popleft() for _ in range(min(MAX_BATCH, len(self.pending)))]
            pipe = self.redis.pipeline(transaction=False)
            for command, _ in batch:
                pipe.execute_command(*command)
            try:
                async with asyncio.timeout(self.layer.socket_timeout):
                    results: list[Any] = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                self._failed(exc, len(batch) + len(self.pending))
                results = [exc] * len(batch)
                batch += list(self.pending)
                results += [exc] * len(self.pending)
                self.pending.clear()
            else:
                self.failures = 0
            for (_, future), result in zip(batch, results, strict=True):
                if future is None or future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _failed(self, exc: BaseException, commands: int) -> None:
        if not self._down():  # memberships may have been among what was lost: told again once the pause is over
            self.loop.call_later(DOWN_SECONDS, self._renew)
        self.down_until = time.monotonic() + DOWN_SECONDS
        self.failures += 1
        if self.failures == 1 or self.failures % 60 == 0:
            log.warning(
                "Redis did not take %d channel-layer commands (%s failures in a row): frames for other processes "
                "are dropped for %s s", commands, self.failures, DOWN_SECONDS, exc_info=exc if self.failures == 1 else None,
            )

    def _down(self) -> bool:
        return time.monotonic() < self.down_until

    async def fan_out(self, group: str, packed: bytes) -> None:
        """Publish a group frame to the other processes with members in the group."""
        await self._publish(
            "EVAL", FAN_OUT, 1, self.layer.group_key(group), time.time(), self.layer.process,
            self.layer.inbox(""), packed,
        )

    async def publish(self, inbox: str, packed: bytes) -> None:
        await self._publish("PUBLISH", inbox, packed)

    async def _publish(self, *command: Any) -> None:
        """Run a command that returns how many processes got the frame; a frame Redis does not take is counted."""
        if self._down():
            metrics.layer_dropped("redis")
            return
        try:
            reached = await self._queue(*command)  # type: ignore[misc]
        except Exception:
            metrics.layer_dropped("redis")
            return
        metrics.layer_between_processes("sent", int(reached))

    # --- memberships ------------------------------------------------------------------------------------

    async def join(self, group: str) -> None:
        """Tell Redis this process has a member in the group, once it can be reached: effective on return."""
        if group in self.joined:
            return
        self.joined.add(group)
        if not await self.listen() or self._down():
            return  # renewed once the inbox subscribes again
        with contextlib.suppress(Exception):  # counted by the sender as Redis being down; renewed later
            await self._queue("ZADD", self.layer.group_key(group), time.time() + GROUP_TTL_SECONDS, self.layer.process)

    def leave(self, group: str) -> None:
        if group in self.joined:
            self.joined.discard(group)
            self._queue("ZREM", self.layer.group_key(group), self.layer.process, wait=False)

    def _renew(self) -> None:
        expires = time.time() + GROUP_TTL_SECONDS
        for group in list(self.joined):
            self._queue("ZADD", self.layer.group_key(group), expires, self.layer.process, wait=False)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            self._renew()

    # --- the inbox ----------------------------------------------------------------------------------

    async def listen(self) -> bool:
        """Subscribe to this process's inbox (once); whether it is subscribed.

        Only the first callers wait, together and at most the socket timeout: with Redis down at start, a
        wait per new socket would hold every connect. Memberships joined before the inbox subscribes are
        told to Redis when it does (`_arrived`)."""
        if self.reader is None:
            self.reader = self.loop.create_task(self._read_inbox(), name="redis-layer-inbox")
            self.renewer = self.loop.create_task(self._renew_forever(), name="redis-layer-renewals")
            self.first_wait = self.loop.create_task(self._wait_for_inbox(), name="redis-layer-first-subscribe")
        if self.first_wait is not None and not self.first_wait.done():
            await asyncio.shield(self.first_wait)
        return self.inbox_ready.done()

    async def _wait_for_inbox(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.inbox_ready), self.layer.socket_timeout)

    async def _read_inbox(self) -> None:
        failures = 0
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.layer.inbox(self.layer.process))
                while True:
                    self._arrived(await pubsub.get_message(timeout=None))
                    failures = 0
            except Exception:
                # A connection Redis closed (a restart, a kill) or never opened: a new one subscribes again.
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    log.warning("The channel layer's inbox could not read Redis (%s failures in a row); retrying",
                                failures, exc_info=failures == 1)
                await asyncio.sleep(min(0.05 * 2**failures, 1.0))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _arrived(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        if message["type"] == "subscribe":  # at first, and again on each new connection
            if not self.inbox_ready.done():
                self.inbox_ready.set_result(None)
            self.down_until = 0.0
            self._renew()  # Redis may have restarted empty
        elif message["type"] == "message":
            try:
                self.layer.arrived(message["data"])
            except Exception:
                log.exception("A frame from another process could not be delivered")

    async def close(self) -> None:
        """Leave every group (so no process sends here any more), stop reading, close the connections; bounded."""
        tasks = [task for task in (self.reader, self.renewer, self.first_wait) if task is not None]
        for task in tasks:
            task.cancel()
        for group in list(self.joined):
            self.leave(group)
        if self.sender is not None and not self.sender.done():
            tasks.append(self.sender)
        if tasks:
            await asyncio.wait(tasks, timeout=self.layer.socket_timeout)
        with contextlib.suppress(Exception):
            await self.redis.aclose()


def _pack(kind: str, target: str, message: dict[str, Any]) -> bytes:
    return msgpack.packb([kind, target, message], use_bin_type=True)


_layers_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[RedisChannelLayer]] = (
    weakref.WeakKeyDictionary()
)


def _close_with_loop(layer: RedisChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
    """Close a loop's links when the loop closes (a loop that async_to_sync made for one call, in a sync
    thread; a test run's loop). The loop's close is wrapped once, however many layers use it."""
    if loop in _layers_by_loop:
        _layers_by_loop[loop].add(layer)
        return
    _layers_by_loop[loop] = weakref.WeakSet([layer])
    original = loop.close

    def close(self: asyncio.AbstractEventLoop) -> None:
        for each in list(_layers_by_loop.pop(self, ())):
            link = each._links.pop(self, None)
            if link is not None and not self.is_closed() and not self.is_running():
                with contextlib.suppress(Exception):
                    self.run_until_complete(link.close())
        self.close = original  # type: ignore[method-assign]
        original()

    loop.close = types.MethodType(close, loop)  # type: ignore[method-assign]
