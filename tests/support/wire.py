"""Builders of real provider wire formats, shared by `responses` mocks and the scripted fake server.

OpenAI-compatible Chat Completions stream `data: {chunk}` lines ending in `data: [DONE]`;
Anthropic Messages stream `event: <type>` + `data: {event}` pairs ending in `message_stop`.
Chunks/events are plain dicts; `*_sse_frames` renders one string per SSE event (so a server can
pace them), `*_sse` joins them into one body (what `responses.add(body=...)` wants).

    body = openai_sse(openai_text_chunks(["Hel", "lo"]) + [openai_usage_chunk(5, 2)])
    body = anthropic_sse(anthropic_tool_use_events("toolu_1", "builtin__calculator", ['{"expr', 'ession": "12*7"}']))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
# As OpenAI and Anthropic send them: the body is UTF-8, and says so.
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}

# --- generic SSE --------------------------------------------------------------------------------


def sse_frame(data: str | dict[str, Any], event: str | None = None) -> str:
    """One SSE event: optional `event:` line, one `data:` line per line of data, blank line."""
    # Raw UTF-8, as OpenAI and Anthropic send it: a character may then straddle two network reads.
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


# --- OpenAI-compatible Chat Completions ---------------------------------------------------------


def openai_chunk(
    delta: dict[str, Any],
    *,
    finish_reason: str | None = None,
    model: str = OPENAI_MODEL,
    chunk_id: str = "chatcmpl-test",
) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice carrying `delta`."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def openai_text_chunks(
    text_parts: Iterable[str], *, model: str = OPENAI_MODEL, finish_reason: str | None = "stop"
) -> list[dict[str, Any]]:
    """A role chunk, one content chunk per part, then (unless finish_reason is None) the finish chunk."""
    chunks = [openai_chunk({"role": "assistant", "content": ""}, model=model)]
    chunks += [openai_chunk({"content": part}, model=model) for part in text_parts]
    if finish_reason is not None:
        chunks.append(openai_chunk({}, finish_reason=finish_reason, model=model))
    return chunks


def openai_tool_call_chunks(
    call_id: str,
    name: str,
    arguments_json_parts: Sequence[str],
    *,
    index: int = 0,
    model: str = OPENAI_MODEL,
    role_chunk: bool = True,
    finish_reason: str | None = "tool_calls",
) -> list[dict[str, Any]]:
    """A tool call as OpenAI streams it: id+name first, then `arguments` in the given fragments.

    Only the first fragment carries id, type and name; later ones carry just index + arguments.
    For several parallel calls, concatenate calls with role_chunk=False/finish_reason=None for all
    but the first/last.
    """
    chunks = [openai_chunk({"role": "assistant", "content": None}, model=model)] if role_chunk else []
    first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    chunks.append(openai_chunk({"tool_calls": [first]}, model=model))
    for part in arguments_json_parts:
        chunks.append(openai_chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}, model=model))
    if finish_reason is not None:
        chunks.append(openai_chunk({}, finish_reason=finish_reason, model=model))
    return chunks


def openai_usage_chunk(prompt_tokens: int, completion_tokens: int, *, model: str = OPENAI_MODEL) -> dict[str, Any]:
    """The last chunk sent with `stream_options.include_usage`: empty choices, totals in `usage`."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def openai_sse_frames(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> list[str]:
    """One `data:` frame per chunk, plus `data: [DONE]` unless done=False (a truncated stream)."""
    frames = [sse_frame(chunk) for chunk in chunks]
    if done:
        frames.append(sse_frame("[DONE]"))
    return frames


def openai_sse(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> str:
    """A whole OpenAI streaming body."""
    return "".join(openai_sse_frames(chunks, done=done))


def openai_error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """The JSON body OpenAI sends with a non-2xx status (and some servers send mid-stream as data)."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


# --- Anthropic Messages -------------------------------------------------------------------------


def anthropic_message_start(*, model: str = ANTHROPIC_MODEL, input_tokens: int = 10, message_id: str = "msg_test") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }


def anthropic_text_block(index: int, text_parts: Iterable[str]) -> list[dict[str, Any]]:
    """content_block_start(text), one text_delta per part, content_block_stop."""
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
    ]
    events += [
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": part}}
        for part in text_parts
    ]
    events.append({"type": "content_block_stop", "index": index})
    return events


def anthropic_tool_use_block(index: int, call_id: str, name: str, json_parts: Iterable[str]) -> list[dict[str, Any]]:
    """content_block_start(tool_use), one input_json_delta per fragment, content_block_stop."""
    events: list[dict[str, Any]] = [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}},
        }
    ]
    events += [
        {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}
        for part in json_parts
    ]
    events.append({"type": "content_block_stop", "index": index})
    return events


def anthropic_message_end(stop_reason: str = "end_turn", *, output_tokens: int = 5) -> list[dict[str, Any]]:
    """message_delta (stop reason, usage) then message_stop."""
    return [
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": output_tokens}},
        {"type": "message_stop"},
    ]


def anthropic_ping() -> dict[str, Any]:
    return {"type": "ping"}


def anthropic_error_event(message: str = "Overloaded", *, type: str = "overloaded_error") -> dict[str, Any]:
    """An `error` event as Anthropic sends it mid-stream (also the body of a non-2xx response)."""
    return {"type": "error", "error": {"type": type, "message": message}}


anthropic_error_body = anthropic_error_event


def anthropic_text_events(
    text_parts: Iterable[str],
    *,
    model: str = ANTHROPIC_MODEL,
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    output_tokens: int = 5,
) -> list[dict[str, Any]]:
    """A complete text reply: message_start, ping, one text block, message_delta, message_stop."""
    return [
        anthropic_message_start(model=model, input_tokens=input_tokens),
        anthropic_ping(),
        *anthropic_text_block(0, text_parts),
        *anthropic_message_end(stop_reason, output_tokens=output_tokens),
    ]


def anthropic_tool_use_events(
    call_id: str,
    name: str,
    json_parts: Sequence[str],
    *,
    text_parts: Sequence[str] = (),
    model: str = ANTHROPIC_MODEL,
    input_tokens: int = 10,
    output_tokens: int = 5,
) -> list[dict[str, Any]]:
    """A complete tool-use reply: optional text block first, then the tool_use block, stop_reason tool_use."""
    events = [anthropic_message_start(model=model, input_tokens=input_tokens)]
    index = 0
    if text_parts:
        events += anthropic_text_block(0, text_parts)
        index = 1
    events += anthropic_tool_use_block(index, call_id, name, json_parts)
    events += anthropic_message_end("tool_use", output_tokens=output_tokens)
    return events


def anthropic_sse_frames(events: Iterable[dict[str, Any]]) -> list[str]:
    """One `event:` + `data:` frame per event; the event name is the event's `type`."""
    return [sse_frame(event, event=event["type"]) for event in events]


def anthropic_sse(events: Iterable[dict[str, Any]]) -> str:
    """A whole Anthropic streaming body (drop the last events to make a truncated one)."""
    return "".join(anthropic_sse_frames(events))
