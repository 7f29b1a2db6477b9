"""An incremental Server-Sent Events parser over raw byte chunks (WHATWG "event stream" rules).

Bytes arrive split anywhere: inside a line, between `\\r` and `\\n`, or inside a UTF-8 character.
The parser keeps what it has not yet understood and returns whole events as they complete.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

MAX_LINE_CHARS = 1_000_000
_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEError(ValueError):
    """The byte stream is not a valid event stream (bad UTF-8, or a line beyond any sane size)."""


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


class SSEParser:
    """Feed byte chunks with `feed()`; each call returns the events completed by that chunk."""

    def __init__(self, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buffer = ""
        self._skip_lf = False  # the previous chunk ended in "\r": a leading "\n" belongs to it
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._max_line_chars = max_line_chars
        self._first_line = True

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse one chunk of bytes; return the events whose blank line arrived in it."""
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise SSEError(f"invalid UTF-8 in event stream: {exc.reason}") from exc
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        if text:
            self._skip_lf = text.endswith("\r")
        self._buffer += text
        return self._drain_lines()

    def close(self) -> list[SSEEvent]:
        """End of stream: check no UTF-8 character is cut; an unterminated event is discarded (per spec)."""
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise SSEError("event stream ended inside a UTF-8 character") from exc
        return []

    def _drain_lines(self) -> list[SSEEvent]:
        # Only CR, LF and CRLF end lines here (str.splitlines would also split on U+2028 etc.).
        *lines, self._buffer = _LINE_END.split(self._buffer)
        events: list[SSEEvent] = []
        for line in lines:
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        if len(self._buffer) > self._max_line_chars:
            raise SSEError(f"event stream line longer than {self._max_line_chars} characters")
        return events

    def _process_line(self, line: str) -> SSEEvent | None:
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields are ignored, as the spec says

    def _dispatch(self) -> SSEEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return SSEEvent(event=event, data="\n".join(data), id=self._id)
