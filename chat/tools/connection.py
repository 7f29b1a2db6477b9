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
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared.exceptions import MCPError

from chat.tools.config import ServerConfig

log = logging.getLogger(__name__)

# The MCP transports' own defaults: a response stream may stay open, so reads get minutes, the rest 30 s.
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


def http_client(headers: dict[str, str]) -> httpx2.AsyncClient:
    """The HTTP client of one streamable-HTTP server, with its configured headers (`Authorization`, ...).

    Built here rather than with the SDK's private `_httpx_utils`, so an SDK release cannot move it from
    under us; redirects stay off, as the SDK expects (its transport follows same-origin ones itself).
    """
    return httpx2.AsyncClient(headers=headers or None, timeout=HTTP_TIMEOUT)

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


@dataclass(eq=False)
class _Session:
    """One life of a server's session: its owner task, its queue and the jobs it must answer."""

    queue: asyncio.Queue[_Job | None] = field(default_factory=asyncio.Queue)
    active: set[_Job] = field(default_factory=set)
    ready: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """True while the owner task serves; a task being cancelled is already on its way out."""
        return self.task is not None and not self.task.done() and not self.task.cancelling()

    def stop(self) -> None:
        """Cancel the owner task once: a second cancel would break the SDK's shielded shutdown of a subprocess."""
        if self.task is not None and not self.task.done() and not self.task.cancelling():
            self.task.cancel()

    def fail_pending(self, error: Exception) -> None:
        for job in list(self.active):
            _settle(job, error)
        while not self.queue.empty():
            job = self.queue.get_nowait()
            if job is not None:
                _settle(job, error)


@dataclass
class Connection:
    """A lazily started session to one server; restarts on the next request after it dies."""

    config: ServerConfig
    on_tools_changed: Callable[[], None] = lambda: None
    failure: str = ""
    _session: _Session | None = None

    @property
    def alive(self) -> bool:
        return self._session is not None and self._session.alive

    async def request(self, operation: Operation, deadline: float, *, stop_slow_start: bool = True) -> Any:
        """Run operation(client) in the owner task; TimeoutError after deadline seconds (the request is cancelled).

        A session still starting at the deadline is stopped unless stop_slow_start is False (a health
        check's short bound must not kill a start that a turn with a longer deadline is waiting for).
        """
        job = _Job(operation, asyncio.get_running_loop().create_future())
        session: _Session | None = None
        try:
            async with asyncio.timeout(deadline):
                session = await self._started()
                session.active.add(job)  # from here on, a dying session settles the job
                session.queue.put_nowait(job)
                return await job.future
        except TimeoutError:
            job.cancel()
            starting = session or self._session
            if stop_slow_start and starting is not None and starting.ready is not None and not starting.ready.done():
                self.failure = "the server did not finish starting in time"
                starting.stop()  # a server that never finishes starting is started afresh next time
            raise
        except BaseException:
            job.cancel()
            raise
        finally:
            if session is not None:
                session.active.discard(job)

    async def aclose(self) -> None:
        """End the session (and its subprocess) if it is running; bounded so a stuck server cannot hang shutdown."""
        session, self._session = self._session, None
        if session is None or session.task is None or session.task.done():
            return
        if session.ready is not None and not session.ready.done():
            session.stop()  # still starting (a health check leaves a slow start running): it never reads its queue
        else:
            session.queue.put_nowait(None)
            _, pending = await asyncio.wait({session.task}, timeout=5)
            if not pending:
                return
            session.stop()
        await asyncio.wait({session.task}, timeout=5)  # the SDK stops a stdio server within its own bounds

    async def _started(self) -> _Session:
        session = self._session
        if session is None or not session.alive:
            loop = asyncio.get_running_loop()
            session = self._session = _Session(ready=loop.create_future())
            session.task = loop.create_task(self._own(session), name=f"mcp-{self.config.name}")
        assert session.ready is not None
        # Shielded: one caller's deadline must not kill a session that others share.
        await asyncio.shield(session.ready)
        if not session.alive:
            raise ServerUnavailable(self.failure or "the connection to the server closed")
        return session

    async def _own(self, session: _Session) -> None:
        assert session.ready is not None
        try:
            async with self._client() as client:
                self.failure = ""
                session.ready.set_result(None)
                await self._serve(client, session.queue)
        except Exception as exc:  # any way a session can die ends here, never in a caller
            self.failure = _describe(exc)
            log.warning("MCP server %s: %s", self.config.name, self.failure)
        finally:
            error = ServerUnavailable(self.failure or "the connection to the server closed")
            if not session.ready.done():
                session.ready.set_exception(error)
                session.ready.exception()  # mark retrieved: a caller may have given up already
            session.fail_pending(error)

    async def _serve(self, client: Client, queue: asyncio.Queue[_Job | None]) -> None:
        lost = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(self._listen_for_changes, client, lost)
            group.start_soon(self._watch, lost, group.cancel_scope)
            while True:
                job = await queue.get()
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
            async with http_client(config.headers) as http:
                async with Client(streamable_http_client(config.url, http_client=http), **options) as client:
                    yield client


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
