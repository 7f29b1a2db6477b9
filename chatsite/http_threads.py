"""HTTP requests do their synchronous work on a few long-lived threads, so their database connections are kept.

Django's ASGIHandler enters a fresh `ThreadSensitiveContext` for every request, and asgiref gives each such
context a thread of its own: every request's ORM calls, sync views and middleware ran on a new thread, so
on a new database connection (a connection belongs to its thread, and `CONN_MAX_AGE` cannot keep what a
finished thread takes with it). A reply started through the API kept the request's context, and opened one
more connection once the request's thread was gone. Measured on SQLite and PostgreSQL alike: one connection
per API request and two per message sent through the API; on PostgreSQL each is a new server process.

`ReusedThreads` wraps the HTTP application and gives each request one of `threads` long-lived contexts (the
least busy): asgiref keeps one thread per context, Django's own per-request context sees an enclosing one and
leaves it in place, and each thread keeps its connection as `CONN_MAX_AGE` says. Requests still run side by
side on several threads (a login's password hashing does not hold up the next page), but no thread and no
connection is made per request. Tasks a request starts that outlive it (a reply) keep its thread.

Why our own: asgiref's public `ThreadSensitiveContext(executor=...)` reuses a thread too, but refuses every
thread-sensitive call a task makes after the request ends, and a reply is such a task. The context variable
set here is the one `ThreadSensitiveContext` itself sets (asgiref is pinned; the connection-count test in
tests/integration/test_http_connections.py fails if it stops working).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext


class ReusedThreads:
    """ASGI middleware for HTTP: each request runs in the least busy of `threads` long-lived thread contexts."""

    def __init__(self, app: Any, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.app = app
        # Never entered: asgiref maps each to a one-thread executor on first use, for as long as it lives.
        self._contexts = [ThreadSensitiveContext() for _ in range(threads)]
        self._busy = [0] * threads

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        lane = min(range(len(self._contexts)), key=self._busy.__getitem__)
        self._busy[lane] += 1
        token = SyncToAsync.thread_sensitive_context.set(self._contexts[lane])
        try:
            await self.app(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)
            self._busy[lane] -= 1
