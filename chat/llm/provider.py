"""What both provider families share: config, session, the SSE loop and the end-of-stream checks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import requests

from chat.llm.base import LLMEvent, LLMRequest, Started, TextDelta
from chat.llm.config import ProviderConfig
from chat.llm.errors import ProviderError
from chat.llm.sse import SSEError, SSEEvent, SSEParser
from chat.llm.transport import HTTPTarget, new_session, stream_post


class StreamDecoder(Protocol):
    """Turns one family's SSE events into neutral LLM events."""

    finished: bool

    def handle(self, sse: SSEEvent) -> list[LLMEvent]: ...

    def end(self) -> None:
        """Called at the end of the body: raise ProviderError if the stream was cut short."""
        ...


class HTTPProvider:
    """One configured provider. Subclasses give the URL, headers, payload and a stream decoder."""

    family = ""

    def __init__(self, config: ProviderConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.name = config.name
        self.model = config.model
        self.session = session or new_session(config.max_connections)

    def model_for(self, request: LLMRequest) -> str:
        """The model to ask for: the request's (a persona's choice) or the configured one."""
        return request.model or self.model

    def url(self) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def payload(self, request: LLMRequest) -> dict[str, Any]:
        raise NotImplementedError

    def decoder(self) -> StreamDecoder:
        raise NotImplementedError

    def target(self, request: LLMRequest) -> HTTPTarget:
        headers = {"Accept": "text/event-stream", **self.headers(), **self.config.headers}
        return HTTPTarget(
            self.url(), headers, self.payload(request), self.config.connect_timeout, self.config.read_timeout
        )

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """Started, then the events decoded from the provider's SSE body as they arrive."""
        yield Started(self.name, self.model_for(request))
        parser, decoder = SSEParser(), self.decoder()
        body = stream_post(self.session, self.target(request), content_ended=lambda: decoder.finished)
        async with contextlib.aclosing(body) as chunks:
            async for chunk in chunks:
                events, failure = _decode(parser, decoder, chunk)
                for event in events:  # what came before a failure in the chunk still goes out first
                    yield event
                if failure is not None:
                    raise failure
                if decoder.finished:
                    return  # the reply is whole: stream_post keeps the connection if its body ends soon
        try:
            parser.close()
        except SSEError as exc:
            raise ProviderError(f"malformed stream: {exc}") from exc
        decoder.end()


def _decode(parser: SSEParser, decoder: StreamDecoder, chunk: bytes) -> tuple[list[LLMEvent], ProviderError | None]:
    """A chunk's events, the text of adjacent deltas as one (a chunk holds several tokens only when the
    process fell behind), and the failure that cut them short, if one did."""
    events: list[LLMEvent] = []
    text: list[str] = []
    failure: ProviderError | None = None
    try:
        for sse in _feed(parser, chunk):
            for event in decoder.handle(sse):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    continue
                if text:
                    events.append(TextDelta("".join(text)))
                    text = []
                events.append(event)
            if decoder.finished:
                break
    except ProviderError as exc:
        failure = exc
    if text:
        events.append(TextDelta("".join(text)))
    return events, failure


def _feed(parser: SSEParser, chunk: bytes) -> list[SSEEvent]:
    try:
        return parser.feed(chunk)
    except SSEError as exc:
        raise ProviderError(f"malformed stream: {exc}") from exc


def parse_json_data(sse: SSEEvent) -> dict[str, Any]:
    """The JSON object of a data line, or a ProviderError saying the stream is malformed."""
    try:
        data = json.loads(sse.data)
    except ValueError:
        raise ProviderError("malformed stream: data is not JSON", quote=repr(sse.data[:80])) from None
    if not isinstance(data, dict):
        raise ProviderError("malformed stream: data is not a JSON object", quote=repr(sse.data[:80]))
    return data


def parse_arguments(text: str, name: str) -> dict[str, Any]:
    """Assembled tool-call arguments as a dict; invalid JSON is a malformed reply."""
    try:
        arguments = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ProviderError(
            f"malformed stream: arguments of tool call {name} are not JSON", quote=repr(text[:80])
        ) from None
    if not isinstance(arguments, dict):
        raise ProviderError(f"malformed stream: arguments of tool call {name} are not a JSON object")
    return arguments
