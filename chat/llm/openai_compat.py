"""OpenAI-compatible Chat Completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, ...).

POST {base_url}/chat/completions with stream=true; the body is `data: {chunk}` lines ending in
`data: [DONE]`. Tool calls arrive as index-keyed fragments whose `arguments` string is split.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from chat.llm.base import ChatMessage, Finish, LLMEvent, LLMRequest, TextDelta, ToolCall, ToolSpec
from chat.llm.errors import ProviderError
from chat.llm.provider import HTTPProvider, parse_arguments, parse_json_data
from chat.llm.sse import SSEEvent
from chat.llm.transport import provider_message


class OpenAICompatProvider(HTTPProvider):
    family = "openai"

    def url(self) -> str:
        return f"{self.config.url_root}/chat/completions"

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def payload(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_for(request),
            "messages": [openai_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [openai_tool(t) for t in request.tools]
        if self.config.max_tokens:
            body["max_tokens"] = self.config.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()


def openai_tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.input_schema},
    }


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """One neutral message in Chat Completions form."""
    if message.role == "tool":
        # Chat Completions has no error flag on tool results: say it in the content.
        content = f"Error: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


class OpenAIStreamDecoder:
    """Chunks to events: text as it comes, tool calls once `[DONE]` proves their arguments whole."""

    def __init__(self) -> None:
        self.finished = False
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish_reason = ""
        self._usage: dict[str, int] = {}
        self._chunks = 0

    def handle(self, sse: SSEEvent) -> list[LLMEvent]:
        if sse.data.strip() == "[DONE]":
            return self._done()
        chunk = parse_json_data(sse)
        if "error" in chunk or sse.event == "error":
            raise ProviderError(f"provider error: {provider_message(sse.data.encode())}")
        self._chunks += 1
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
            self._usage = {
                "input_tokens": int(usage.get("prompt_tokens") or 0),
                "output_tokens": int(usage.get("completion_tokens") or 0),
            }
        events: list[LLMEvent] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events.append(TextDelta(delta["content"]))
            for position, fragment in enumerate(delta.get("tool_calls") or []):
                self._merge(fragment, position)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _merge(self, fragment: dict[str, Any], position: int) -> None:
        call = self._calls.setdefault(int(fragment.get("index", position)), {"id": "", "name": "", "arguments": []})
        function = fragment.get("function") or {}
        if fragment.get("id") and not call["id"]:
            call["id"] = fragment["id"]
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # a few servers send the object itself, whole
            arguments = json.dumps(arguments)
        if arguments:
            call["arguments"].append(arguments)

    def _done(self) -> list[LLMEvent]:
        self.finished = True
        if not self._chunks:
            raise ProviderError("empty stream: [DONE] without any chunk")
        events: list[LLMEvent] = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call["name"]:
                raise ProviderError(f"malformed stream: tool call {index} has no name")
            arguments = parse_arguments("".join(call["arguments"]), call["name"])
            events.append(ToolCall(call["id"] or f"call_{uuid.uuid4().hex[:12]}", call["name"], arguments))
        reason = self._finish_reason or "stop"
        if self._calls and reason == "stop":
            reason = "tool_calls"  # some servers say "stop" even when they called tools
        events.append(Finish(reason, self._usage))
        return events

    def end(self) -> None:
        if not self.finished:
            if not self._chunks:
                raise ProviderError("empty stream")
            raise ProviderError("stream ended before [DONE]")
