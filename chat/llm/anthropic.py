"""Anthropic Messages API: POST {base_url}/messages with stream=true.

Events: message_start, content_block_start/delta/stop (text_delta, input_json_delta), message_delta
(stop reason, usage), message_stop, ping, and error (possibly mid-stream). Unknown events are
ignored, as Anthropic's versioning policy asks.
"""

from __future__ import annotations

from typing import Any

from chat.llm.base import ChatMessage, Finish, LLMEvent, LLMRequest, TextDelta, ToolCall, ToolSpec
from chat.llm.errors import ProviderError
from chat.llm.provider import HTTPProvider, parse_arguments, parse_json_data
from chat.llm.sse import SSEEvent

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


class AnthropicProvider(HTTPProvider):
    family = "anthropic"

    def url(self) -> str:
        return f"{self.config.url_root}/messages"

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.api_key(), "anthropic-version": API_VERSION}

    def payload(self, request: LLMRequest) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
        body: dict[str, Any] = {
            "model": self.model_for(request),
            "max_tokens": self.config.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": anthropic_messages(request.messages),
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [anthropic_tool(t) for t in request.tools]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()


def anthropic_tool(spec: ToolSpec) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}


def anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Neutral history as alternating user/assistant turns of content blocks.

    Tool results travel in the user turn that follows the tool use; consecutive turns of one
    role are merged because the API refuses two in a row.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue  # e.g. an assistant reply stopped before any text: the API refuses empty content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.tool_calls]
    return blocks


class AnthropicStreamDecoder:
    """Events to neutral events: text deltas at once, a tool call at its content_block_stop."""

    def __init__(self) -> None:
        self.finished = False
        self._tools: dict[int, dict[str, Any]] = {}
        self._usage = {"input_tokens": 0, "output_tokens": 0}
        self._stop_reason = ""
        self._events = 0

    def handle(self, sse: SSEEvent) -> list[LLMEvent]:
        data = parse_json_data(sse)
        kind = data.get("type") or sse.event
        self._events += 1
        handler = getattr(self, f"_on_{kind}", None)
        return handler(data) if handler else []

    def _on_error(self, data: dict[str, Any]) -> list[LLMEvent]:
        error = data.get("error") or {}
        raise ProviderError(f"provider error: {error.get('message') or 'unknown'} ({error.get('type') or 'error'})")

    def _on_message_start(self, data: dict[str, Any]) -> list[LLMEvent]:
        usage = (data.get("message") or {}).get("usage") or {}
        self._usage["input_tokens"] = int(usage.get("input_tokens") or 0)
        return []

    def _on_content_block_start(self, data: dict[str, Any]) -> list[LLMEvent]:
        block = data.get("content_block") or {}
        if block.get("type") == "tool_use":
            self._tools[data.get("index", 0)] = {
                "id": block.get("id", ""), "name": block.get("name", ""), "input": block.get("input") or {}, "json": [],
            }
        elif block.get("type") == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        return []

    def _on_content_block_delta(self, data: dict[str, Any]) -> list[LLMEvent]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [TextDelta(delta["text"])]
        if delta.get("type") == "input_json_delta":
            tool = self._tools.get(data.get("index", 0))
            if tool is None:
                raise ProviderError("malformed stream: input_json_delta for a block that is not a tool_use")
            tool["json"].append(delta.get("partial_json") or "")
        return []

    def _on_content_block_stop(self, data: dict[str, Any]) -> list[LLMEvent]:
        tool = self._tools.pop(data.get("index", 0), None)
        if tool is None:
            return []
        text = "".join(tool["json"])
        arguments = parse_arguments(text, tool["name"]) if text.strip() else dict(tool["input"])
        return [ToolCall(tool["id"], tool["name"], arguments)]

    def _on_message_delta(self, data: dict[str, Any]) -> list[LLMEvent]:
        self._stop_reason = (data.get("delta") or {}).get("stop_reason") or self._stop_reason
        usage = data.get("usage") or {}
        for key in ("input_tokens", "output_tokens"):
            if usage.get(key) is not None:
                self._usage[key] = int(usage[key])
        return []

    def _on_message_stop(self, data: dict[str, Any]) -> list[LLMEvent]:
        self.finished = True
        if self._tools:
            raise ProviderError("malformed stream: message_stop before the tool_use block ended")
        reason = STOP_REASONS.get(self._stop_reason, self._stop_reason or "stop")
        return [Finish(reason, dict(self._usage))]

    def end(self) -> None:
        if not self.finished:
            raise ProviderError("stream ended before message_stop" if self._events else "empty stream")
