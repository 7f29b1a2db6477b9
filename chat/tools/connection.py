"""One MCP server's client session, owned by a single long-lived task.

An anyio-based `mcp.Client` must be entered and exited in the same task, so callers never touch
the client: they queue a job and wait on its future under their own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from chat.tools.config import ServerConfig

log = logging.getLogger(__name__)

Operation = Callable[[Client], Awaitable[Any]]


class ServerUnavailable(Exception):
    """The server could not be started or reached, or its connection died."""


@dataclass(eq=False)
class _Job:
    operation: Operation
    future: asyncio.Future[Any]
    scope: anyio.CancelScope | None = None
    abandoned: bool = False

    def cancel(self) -> None:
        """Called when the caller gave up: stop the request (the SDK cancels it or closes its stream)."""
        self.abandoned = True
        if self.scope is not None:
            self.scope.cancel()


@dataclass
class Connection:
    """A lazily started session to one server; restarts on the next request after it dies."""

    config: ServerConfig
    on_tools_changed: Callable[[], None] = lambda: None
    _queue: asyncio.Queue[_Job | None] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Future[None] | None = None
    _active: set[_Job] = field(default_factory=set)
    failure: str = ""

    @property
    def alive(self) -> bool:
        """True while the owner task serves; a task being cancelled is already on its way out."""
        return self._task is not None and not self._task.done() and not self._task.cancelling()

    async def request(self, operation: Operation, deadline: float) -> Any:
        """Run operation(client) in the owner task; TimeoutError after deadline seconds (the request is cancelled)."""
        job = _Job(operation, asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(deadline):
                await self._started()
                self._active.add(job)  # from here on, a dying session settles the job
                self._queue.put_nowait(job)
                return await job.future
        except BaseException:
            job.cancel()
            if self._ready is not None and not self._ready.done() and self.alive:
                self.failure = "the server did not finish starting in time"
                _stop(self._task)  # a server that never finishes starting is started afresh next time
            raise
        finally:
            self._active.discard(job)

    async def aclose(self) -> None:
        """End the session (and its subprocess) if it is running; bounded so a stuck server cannot hang shutdown."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._queue.put_nowait(None)
        _, pending = await asyncio.wait({task}, timeout=5)
        if pending:
            _stop(task)
            await asyncio.wait({task}, timeout=5)  # the SDK stops a stdio server within its own bounds

    async def _started(self) -> None:
        if not self.alive:
            loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            self._ready = loop.create_future()
            self._task = loop.create_task(self._own(self._ready), name=f"mcp-{self.config.name}")
        assert self._ready is not None
        # Shielded: one caller's deadline must not kill a session that others share.
        await asyncio.shield(self._ready)
        if not self.alive:
            raise ServerUnavailable(self.failure or "the connection to the server closed")

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with self._client() as client:
                self.failure = ""
                ready.set_result(None)
                await self._serve(client)
        except Exception as exc:  # any way a session can die ends here, never in a caller
            self.failure = _describe(exc)
            log.warning("MCP server %s: %s", self.config.name, self.failure)
        finally:
            error = ServerUnavailable(self.failure or "the connection to the server closed")
            if not ready.done():
                ready.set_exception(error)
                ready.exception()  # mark retrieved: a caller may have given up already
            self._fail_pending(error)

    async def _serve(self, client: Client) -> None:
        lost = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(self._listen_for_changes, client, lost)
            group.start_soon(self._watch, lost, group.cancel_scope)
            while True:
                job = await self._queue.get()
                if job is None:
                    group.cancel_scope.cancel()
                    return
                group.start_soon(self._run_job, client, job, lost)

    async def _watch(self, lost: anyio.Event, scope: anyio.CancelScope) -> None:
        """Ends the session once a request finds the connection closed, so the next one restarts it."""
        await lost.wait()
        self.failure = "the server closed the connection (it may have crashed)"
        scope.cancel()

    async def _run_job(self, client: Client, job: _Job, lost: anyio.Event) -> None:
        if job.abandoned or job.future.done():
            return
        try:
            with anyio.CancelScope() as scope:
                job.scope = scope
                result = await job.operation(client)
                if not job.future.done():
                    job.future.set_result(result)
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                lost.set()
                _settle(job, ServerUnavailable("the server closed the connection (it may have crashed)"))
            else:
                _settle(job, exc)
        except Exception as exc:
            _settle(job, exc)

    async def _listen_for_changes(self, client: Client, lost: anyio.Event) -> None:
        """Marks the tool list stale when the server announces a change (2026-07-28 listen stream).

        A listen stream that drops means the connection died while idle: end the session now so the
        next request starts a fresh one instead of failing.
        """
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self.on_tools_changed()
        except SubscriptionLost:
            lost.set()
        except Exception as exc:  # handshake-era servers use the message handler instead
            log.debug("MCP server %s offers no change stream: %s", self.config.name, exc)

    async def _on_message(self, message: Any) -> None:
        """Handshake-era servers announce changes as plain notifications."""
        if isinstance(message, types.ToolListChangedNotification):
            self.on_tools_changed()
        await anyio.lowlevel.checkpoint()

    def _fail_pending(self, error: Exception) -> None:
        for job in list(self._active):
            _settle(job, error)
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                _settle(job, error)

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Client]:
        config = self.config
        options: dict[str, Any] = {"message_handler": self._on_message, "cache": None}
        if config.transport == "memory":
            async with Client(config.server, **options) as client:
                yield client
        elif config.transport == "stdio":
            parameters = StdioServerParameters(
                command=config.command, args=list(config.args), env=config.env or None, cwd=config.cwd
            )
            async with Client(parameters, **options) as client:
                yield client
        else:
            async with create_mcp_http_client(headers=config.headers or None) as http:
                async with Client(streamable_http_client(config.url, http_client=http), **options) as client:
                    yield client


def _stop(task: asyncio.Task[None] | None) -> None:
    """Cancel an owner task once: a second cancel would break the SDK's shielded shutdown of a subprocess."""
    if task is not None and not task.done() and not task.cancelling():
        task.cancel()


def _settle(job: _Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
        job.future.exception()  # the caller may have timed out and will never read it


def _describe(exc: BaseException) -> str:
    """A short reason for a log line and for the model: the innermost real error, not an ExceptionGroup."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"cannot start the server: command not found ({exc.filename or exc})"
    if isinstance(exc, OSError):
        return f"cannot start the server: {exc.strerror or exc}"
    name = type(exc).__name__
    if "Connect" in name:
        return f"cannot reach the server: {exc}"
    return f"{name}: {exc}" if str(exc) else name
