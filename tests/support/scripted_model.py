"""A scripted OpenAI-compatible model for communicator tests, served through `responses` at a real URL.

Each test scripts what the model does (`calls` a tool, `says` text, or `streams` exact SSE bodies) and
reads the requests it received. The `model` fixture (tests/integration/conftest.py) configures the site
to use it as its one provider (`tests.support.providers.SCRIPTED`); `serve` puts one at any URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import responses

from chat.tools.config import memory_server
from chat.tools.hub import Hub
from tests.support import wire
from tests.support.mcp_servers import Probe, installed_hub, probe_server
from tests.support.providers import OPENAI_URL
from tests.support.wire import openai_sse, openai_text_chunks, openai_tool_call_chunks


class ScriptedModel:
    """The model's side of a conversation: one scripted stream per request, every request recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._replies: list[str] = []

    def calls(self, name: str, arguments: dict[str, Any], call_id: str = "call_1") -> ScriptedModel:
        encoded = json.dumps(arguments)
        self._replies.append(openai_sse(openai_tool_call_chunks(call_id, name, [encoded[:5], encoded[5:]])))
        return self

    def calls_several(self, *calls: tuple[str, dict[str, Any], str]) -> ScriptedModel:
        """One reply with parallel tool calls: (name, arguments, call id) each."""
        chunks: list[dict[str, Any]] = []
        for n, (name, arguments, call_id) in enumerate(calls):
            last = n == len(calls) - 1
            chunks += openai_tool_call_chunks(call_id, name, [json.dumps(arguments)], index=n, role_chunk=n == 0,
                                              finish_reason="tool_calls" if last else None)
        self._replies.append(openai_sse(chunks))
        return self

    def says(self, text: str) -> ScriptedModel:
        self._replies.append(openai_sse(openai_text_chunks([text[:4], text[4:]])))
        return self

    def streams(self, *bodies: str) -> ScriptedModel:
        """Exact SSE bodies (tests/support/wire.py), one per request, for tests about the wire format itself."""
        self._replies.extend(bodies)
        return self

    def serve(self, mock: responses.RequestsMock, url: str = OPENAI_URL) -> ScriptedModel:
        """Answer every POST to url (a provider's chat completions URL) through the `responses` mock."""
        mock.add_callback(responses.POST, url, callback=self.respond)
        return self

    def respond(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(json.loads(request.body))
        if not self._replies:
            return 500, {"Content-Type": "application/json"}, json.dumps({"error": {"message": "no reply scripted"}})
        return 200, wire.SSE_HEADERS, self._replies.pop(0)

    def tool_names(self, request: int) -> set[str]:
        return {tool["function"]["name"] for tool in self.requests[request].get("tools", [])}

    def tool_message(self, request: int, call_id: str = "call_1") -> str:
        """The content of the tool result the model was sent in request number `request`."""
        for message in self.requests[request]["messages"]:
            if message["role"] == "tool" and message["tool_call_id"] == call_id:
                return message["content"]
        raise AssertionError(f"request {request} carries no tool result for {call_id}: {self.requests[request]['messages']}")


@asynccontextmanager
async def probe_hub(**options: Any) -> AsyncIterator[tuple[Hub, Probe]]:
    """The built-in server plus an in-memory probe server, installed as the app's hub for the block."""
    server, probe = probe_server()
    async with installed_hub(extra={"probe": memory_server("probe", server, **options)}) as hub:
        yield hub, probe
