"""Structured logs: the conversation, turn and request a log line belongs to, as text or JSON lines.

The ids live in context variables: the consumer sets them for each frame, a turn for its own task
(tasks copy the context they were created in), `RequestIdMiddleware` for each HTTP request. The
`ContextFilter` on the handler copies them onto every record. Exception messages can carry message
text or tool arguments (a tool's own error, a database error quoting a row), so unless
`LOG_MESSAGE_TEXT` is on the formatters write a traceback's frames and exception type but not its
message. They never change the record's exception, which other handlers (pytest's caplog) still see whole.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

conversation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("conversation_id", default=None)
turn_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("turn_id", default=None)
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_FIELDS = (("conversation_id", conversation_id), ("turn_id", turn_id), ("request_id", request_id))
_REQUEST_ID_HEADER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class ContextFilter(logging.Filter):
    """Adds conversation_id, turn_id and request_id (None when they do not apply) and `context`, their text form."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        for name, var in _FIELDS:
            value = getattr(record, name, None) or var.get()
            setattr(record, name, value)
            if value is not None:
                parts.append(f"{name.removesuffix('_id')}={value}")
        record.context = f"[{' '.join(parts)}] " if parts else ""
        return True


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord, message_text: bool) -> str:
    """The record's traceback; without `message_text`, its frames and exception type but not the message."""
    if not record.exc_info or record.exc_info[1] is None:
        return record.exc_text or ""
    if message_text:
        return formatter.formatException(record.exc_info)
    exc = record.exc_info[1]
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__qualname__}: (message withheld; LOG_MESSAGE_TEXT=true logs it)"


class TextFormatter(logging.Formatter):
    """Python's usual line, with the traceback written as `_exception_text` says."""

    def __init__(self, *args: Any, message_text: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_text = message_text

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_text = _exception_text(self, record, self.message_text) or None
        record.exc_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, and the traceback if any."""

    def __init__(self, *, message_text: bool = False) -> None:
        super().__init__()
        self.message_text = message_text

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, _ in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        exception = _exception_text(self, record, self.message_text)
        if exception:
            line["exception"] = exception
        return json.dumps(line, ensure_ascii=False, default=str)


def bind(**ids: Any) -> None:
    """Set ids for the current context (a consumer's frame, a turn's task); None clears one."""
    for name, var in _FIELDS:
        if name in ids:
            var.set(ids[name])


class RequestIdMiddleware:
    """Gives each HTTP request an id (the caller's `X-Request-ID` when it is sane) for its log lines, and echoes it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        token = request_id.set(_request_id(request))
        try:
            return self._tag(self.get_response(request))
        finally:
            request_id.reset(token)

    async def _acall(self, request: Any) -> Any:
        token = request_id.set(_request_id(request))
        try:
            return self._tag(await self.get_response(request))
        finally:
            request_id.reset(token)

    @staticmethod
    def _tag(response: Any) -> Any:
        response.headers.setdefault("X-Request-ID", request_id.get() or "")
        return response


def _request_id(request: Any) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID_HEADER.match(given) else new_id()
