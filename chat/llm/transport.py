"""POST a request with `requests` in a worker thread and stream the response body into asyncio.

`requests` blocks, so one daemon thread per stream does the I/O and hands byte chunks to the
event loop. Closing the async iterator (the turn was stopped or its task cancelled) shuts the
socket down so a read blocked in the thread wakes at once; the thread then closes the response
(the server sees the connection close) and ends. A reply read to its last event is different: the thread
reads the body's end by itself, so the connection goes back to the pool for the next reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from chat.llm.errors import ProviderError, is_transient_status, parse_retry_after

log = logging.getLogger(__name__)

READ_SIZE = 65536
MAX_ERROR_BODY = 65536
# How long a closing stream waits for its thread; only a connect still in progress takes this long.
THREAD_JOIN_SECONDS = 1.0
# How long a stream whose content has ended leaves its thread to read the body's last bytes (they come with
# the last event) before shutting the connection: only a server that holds it open after the end needs it.
END_OF_BODY_SECONDS = 1.0


@dataclass(frozen=True)
class HTTPTarget:
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    connect_timeout: float
    read_timeout: float


# The worker whose request runs on this thread, so its connection can be found to shut it down.
_current = threading.local()


def _track(connection: HTTPConnection) -> None:
    worker = getattr(_current, "worker", None)
    if worker is not None:
        worker.connection = connection


class _TrackedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _track(self)
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _track(self)
        super().request(*args, **kwargs)


class _TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class StreamingAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections tell the worker about themselves, so a stop can shut the
    socket down even while the request still waits for the response headers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPConnectionPool, "https": _TrackedHTTPSConnectionPool,
        }


def new_session(pool_size: int = 256) -> requests.Session:
    """A requests session (up to `pool_size` keep-alive connections per host) whose streams can be interrupted.

    requests keeps 10 by default: with more replies streaming at once, every reply past the tenth opened a
    new connection, and each one's end logged a warning from its reader thread; at 100 replies those threads
    spent most of their time waiting for the logging lock (py-spy, bench/relay.py)."""
    session = requests.Session()
    adapter = StreamingAdapter(pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Worker:
    """The thread side: one request, its body read with read1 so chunks pass on as they arrive."""

    def __init__(self, session: requests.Session, target: HTTPTarget, loop: asyncio.AbstractEventLoop) -> None:
        self.session = session
        self.target = target
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stopping = threading.Event()
        self.ended = threading.Event()
        self.ended_future: asyncio.Future[None] = loop.create_future()
        self._response: requests.Response | None = None
        self.connection: HTTPConnection | None = None
        self._lock = threading.Lock()
        self._handoff: list[tuple[str, Any]] = []
        self._handoff_lock = threading.Lock()
        self._wake_pending = False

    def run(self) -> None:
        _current.worker = self
        try:
            self._request()
        except BaseException as exc:  # anything unexpected still ends the async side
            if not self.stopping.is_set():
                self._put("error", exc if isinstance(exc, ProviderError) else self._classify(exc))
        finally:
            _current.worker = None
            with self._lock:
                response, self._response = self._response, None
                self.connection = None
            if response is not None:
                response.close()
            self.ended.set()
            self._call(self._set_ended)

    def _request(self) -> None:
        t = self.target
        response = self.session.post(
            t.url, json=t.payload, headers=t.headers, stream=True, timeout=(t.connect_timeout, t.read_timeout)
        )
        with self._lock:
            self._response = response
        if self.stopping.is_set():
            return
        if response.status_code >= 400:
            self._put("error", _http_error(response))
            return
        raw = response.raw
        while not self.stopping.is_set():
            data = raw.read1(READ_SIZE, decode_content=True)
            if not data:
                with self._lock:
                    self.connection = None  # back in the pool now: never shut it down
                break
            self._put("chunk", data)
        if not self.stopping.is_set():
            self._put("end", None)

    def _classify(self, exc: BaseException) -> ProviderError:
        t = self.target
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ProviderError(f"connection timed out after {t.connect_timeout:g} s")
        if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return ProviderError(f"timed out after {t.read_timeout:g} s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return ProviderError(f"connection failed: {_short(exc)}")
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            return ProviderError(f"connection lost: {_short(exc)}")
        if isinstance(exc, requests.exceptions.RequestException):
            return ProviderError(f"request failed: {_short(exc)}", transient=False)
        log.exception("LLM request to %s failed unexpectedly", t.url, exc_info=exc)
        return ProviderError(f"request failed: {type(exc).__name__}: {exc}", transient=False)

    def stop(self) -> None:
        """Called from the event loop: make the thread stop and wake it from a blocked read."""
        self.stopping.set()
        if self.ended.is_set():
            return
        with self._lock:
            sock = getattr(self.connection, "sock", None)
            if sock is not None:
                # Both directions: a blocked recv wakes, and the server sees the close at once.
                # The plain-socket method, so a TLS socket's state is left to its own thread.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                return
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # no socket (a mocked body) or already released
                response.raw.shutdown()

    def _put(self, kind: str, value: Any) -> None:
        # One wake-up of the loop for whatever piles up before it runs, not one per chunk: when the
        # process falls behind, the reply's chunks reach the turn together and go out as one delta.
        with self._handoff_lock:
            self._handoff.append((kind, value))
            if self._wake_pending:
                return
            self._wake_pending = True
        self._call(self._hand_over)

    def _hand_over(self) -> None:
        with self._handoff_lock:
            items, self._handoff, self._wake_pending = self._handoff, [], False
        for item in items:
            self.queue.put_nowait(item)

    def _call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(fn, *args)

    def _set_ended(self) -> None:
        if not self.ended_future.done():
            self.ended_future.set_result(None)


async def stream_post(
    session: requests.Session, target: HTTPTarget, content_ended: Callable[[], bool] = lambda: False
) -> AsyncIterator[bytes]:
    """Yield the response body chunk by chunk; HTTP errors and network failures raise ProviderError.

    Closed early, it shuts the connection down at once and waits for the thread, unless `content_ended()`
    says the caller has read the whole reply: then it returns at once, and the thread has END_OF_BODY_SECONDS
    to reach the body's end, so the connection is kept for the next request.
    """
    worker = _Worker(session, target, asyncio.get_running_loop())
    threading.Thread(target=worker.run, name=f"llm-stream {target.url}", daemon=True).start()
    # Each item arrives within one connect or read timeout; the margin covers thread scheduling.
    bound = target.connect_timeout + target.read_timeout + 5.0
    queue = worker.queue
    try:
        while True:
            if queue.empty():
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation (a stop)
                    # that lands in the same loop turn as the item it was waiting for.
                    async with asyncio.timeout(bound):
                        items = [await queue.get()]
                except TimeoutError:
                    raise ProviderError(f"timed out after {target.read_timeout:g} s") from None
            else:  # already here: no timer to arm and cancel
                items = []
            while not queue.empty():
                items.append(queue.get_nowait())
            # Every chunk already handed over goes on at once: when the process is behind, a reply's
            # tokens travel the rest of the way as one piece (HTTPProvider merges their text).
            chunks: list[bytes] = []
            for kind, value in items:
                if kind == "chunk":
                    chunks.append(value)
                    continue
                if chunks:
                    yield b"".join(chunks)
                    chunks = []
                if kind == "end":
                    return
                raise value
            if chunks:
                yield b"".join(chunks)
    finally:
        if content_ended():
            _stop_later(worker)
        else:
            await _stop(worker, target)


def _stop_later(worker: _Worker) -> None:
    """The reply is whole: the thread reads the body's end by itself and its connection goes back to the pool.
    Stopping it at once shut that connection whenever the thread had not yet been scheduled (under load, a
    new connection for most later replies); it is shut only if the server holds it open past the grace."""
    if not worker.ended.is_set():
        worker.loop.call_later(END_OF_BODY_SECONDS, worker.stop)


async def _stop(worker: _Worker, target: HTTPTarget) -> None:
    worker.stop()
    try:
        async with asyncio.timeout(THREAD_JOIN_SECONDS):
            await asyncio.shield(worker.ended_future)
    except TimeoutError:
        log.warning("LLM stream thread for %s still connecting; it ends at its timeout", target.url)


def _http_error(response: requests.Response) -> ProviderError:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if is_transient_status(status):
        return ProviderError(f"HTTP {status}", retry_after=retry_after, status=status)
    detail = provider_message(response.raw.read(MAX_ERROR_BODY, decode_content=True))
    return ProviderError(f"HTTP {status}: {detail}" if detail else f"HTTP {status}", transient=False, status=status)


def provider_message(body: bytes) -> str:
    """The provider's own words from an error body ({"error": {"message": ...}} in both families)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or json.dumps(error))[:300]
    return str(error)[:300]


def _short(exc: BaseException) -> str:
    """The innermost reason of a wrapped urllib3/requests error, without the pool and URL noise."""
    text = str(exc)
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()")[:200]
