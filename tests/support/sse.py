"""Read the SSE stream of a conversation (GET /api/v1/conversations/{id}/events) with bounded waits.

`SseParser` turns bytes into events and comments as a browser's EventSource does; `sse_stream` drives
the routed ASGI application directly (so the test's mocks and its sockets share one process) and
always disconnects on exit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from channels.testing import ApplicationCommunicator

from chatsite.asgi import application

Frame = dict[str, Any]


@dataclass
class Event:
    event: str
    data: str
    id: str | None

    @property
    def frame(self) -> Frame:
        return json.loads(self.data)


@dataclass
class SseParser:
    """Bytes in, `Event`s and comments (the text after ':') out, as the SSE spec parses a stream."""

    _buffer: str = ""
    _fields: dict[str, str] = field(default_factory=dict)
    _data: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[Event | str]:
        self._buffer += chunk.decode()
        out: list[Event | str] = []
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            line = line.removesuffix("\r")
            if not line:
                if self._data or self._fields:
                    out.append(Event(self._fields.get("event", "message"), "\n".join(self._data), self._fields.get("id")))
                self._fields, self._data = {}, []
            elif line.startswith(":"):
                out.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    self._data.append(value)
                else:
                    self._fields[name] = value
        return out


class SseStream:
    """One open stream: its status and headers, then events read with a total deadline per wait."""

    def __init__(self, comm: ApplicationCommunicator) -> None:
        self.comm = comm
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""  # a non-streaming answer (an error)
        self.events: list[Event] = []  # every event read so far
        self.comments: list[str] = []
        self.ended = False
        self._parser = SseParser()
        self._pending: list[Event] = []

    @property
    def frames(self) -> list[Frame]:
        return [event.frame for event in self.events]

    async def _start(self, timeout: float) -> None:
        start = await self.comm.receive_output(timeout)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        if not self.headers.get("content-type", "").startswith("text/event-stream"):
            while True:
                message = await self.comm.receive_output(timeout)
                self.body += message.get("body", b"")
                if not message.get("more_body"):
                    self.ended = True
                    return

    async def _read(self, deadline: float, expected: str) -> None:
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        if left <= 0 or self.ended:
            arrived = [f"{e.event} {e.data[:80]}" for e in self.events[-10:]] or ["nothing"]
            raise AssertionError(f"expected {expected}; {'the stream ended' if self.ended else 'timed out'}; "
                                 f"last events: {arrived}")
        try:
            message = await self.comm.receive_output(left)
        except TimeoutError:
            self.ended = True  # the communicator cancelled the application
            raise AssertionError(f"expected {expected} in time; last events: "
                                 f"{[e.event for e in self.events[-10:]] or ['nothing']}") from None
        if not message.get("more_body", False):
            self.ended = True
        for item in self._parser.feed(message.get("body", b"")):
            if isinstance(item, str):
                self.comments.append(item)
            else:
                self._pending.append(item)

    async def next_event(self, timeout: float = 5) -> Event:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._pending:
            await self._read(deadline, "an event")
        event = self._pending.pop(0)
        self.events.append(event)
        return event

    async def until(self, frame_type: str, timeout: float = 10) -> list[Frame]:
        """Every frame up to and including the next one of frame_type, within timeout in total."""
        deadline = asyncio.get_running_loop().time() + timeout
        start = len(self.events)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"expected a {frame_type!r} event within {timeout:g} s; got "
                                     f"{[e.event for e in self.events[start:]] or ['nothing']}")
            event = await self.next_event(left)
            if event.event == frame_type:
                return [e.frame for e in self.events[start:]]

    async def comment(self, timeout: float = 5) -> str:
        """The next comment (a keep-alive), within timeout; events read meanwhile are kept."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = len(self.comments)
        while len(self.comments) == seen:
            await self._read(deadline, "a comment")
        return self.comments[seen]

    async def until_ended(self, timeout: float = 5) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.ended:
            await self._read(deadline, "the end of the stream")
        self.events.extend(self._pending)
        self._pending.clear()

    async def disconnect(self, timeout: float = 5) -> None:
        """The client goes away: http.disconnect, then the application must finish within timeout."""
        if not self.ended:
            await self.comm.send_input({"type": "http.disconnect"})
        await self.comm.wait(timeout)
        self.ended = True


def scope(url: str, headers: dict[str, str]) -> dict[str, Any]:
    parts = urlsplit(url)
    raw = [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": parts.path, "raw_path": parts.path.encode(), "query_string": parts.query.encode(), "root_path": "",
        "headers": raw, "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
    }


@asynccontextmanager
async def sse_stream(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> AsyncIterator[SseStream]:
    """GET url (e.g. /api/v1/conversations/1/events) on the real application; disconnected on exit."""
    comm = ApplicationCommunicator(application, scope(url, {"Accept": "text/event-stream", **(headers or {})}))
    await comm.send_input({"type": "http.request", "body": b"", "more_body": False})
    stream = SseStream(comm)
    try:
        await stream._start(timeout)
        yield stream
    finally:
        await stream.disconnect()


def events_url(conversation_id: int, query: str = "") -> str:
    return f"/api/v1/conversations/{conversation_id}/events" + (f"?{query}" if query else "")
