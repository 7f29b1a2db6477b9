"""Both provider families against real wire-format bodies served by `responses`."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

from chat.llm.anthropic import AnthropicProvider
from chat.llm.base import ChatMessage, Finish, LLMRequest, Started, TextDelta, ToolCall, ToolSpec
from chat.llm.config import ProviderConfig
from chat.llm.errors import ProviderError
from chat.llm.openai_compat import OpenAICompatProvider
from tests.support import wire

OPENAI_URL = "https://llm.test/v1/chat/completions"
ANTHROPIC_URL = "https://anthropic.test/v1/messages"
CALC = ToolSpec("builtin__calculator", "Evaluate arithmetic.", {"type": "object", "properties": {"expression": {"type": "string"}}})


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("LLM_TEST_KEY", "sk-test-123")


@pytest.fixture
def mocked():
    with responses.RequestsMock() as mock:
        yield mock


def openai(**overrides: Any) -> OpenAICompatProvider:
    fields = {"name": "primary", "family": "openai", "base_url": "https://llm.test/v1", "model": "gpt-4o-mini",
              "api_key_env": "LLM_TEST_KEY", **overrides}
    return OpenAICompatProvider(ProviderConfig(**fields))


def anthropic(**overrides: Any) -> AnthropicProvider:
    fields = {"name": "claude", "family": "anthropic", "base_url": "https://anthropic.test/v1",
              "model": "claude-3-5-haiku-latest", "api_key_env": "LLM_TEST_KEY", **overrides}
    return AnthropicProvider(ProviderConfig(**fields))


def ask(text: str = "What is 12*7?") -> LLMRequest:
    return LLMRequest([ChatMessage("system", "Be brief."), ChatMessage("user", text)], [CALC])


async def collect(provider, request: LLMRequest | None = None) -> list:
    return [event async for event in provider.stream(request or ask())]


def sent_body(mock: responses.RequestsMock, index: int = 0) -> dict[str, Any]:
    return json.loads(mock.calls[index].request.body)


# --- OpenAI-compatible --------------------------------------------------------------------------


async def test_openai_text_arrives_in_order_with_usage(mocked):
    """`responses` hands the whole body over as one read: its three tokens come out as one delta, in order."""
    chunks = wire.openai_text_chunks(["The ", "answer ", "is 84."]) + [wire.openai_usage_chunk(21, 7)]
    mocked.post(OPENAI_URL, body=wire.openai_sse(chunks), headers=wire.SSE_HEADERS)
    events = await collect(openai())
    assert events == [
        Started("primary", "gpt-4o-mini"), TextDelta("The answer is 84."),
        Finish("stop", {"input_tokens": 21, "output_tokens": 7}),
    ]


async def test_openai_request_carries_tools_history_and_key(mocked):
    mocked.post(OPENAI_URL, body=wire.openai_sse(wire.openai_text_chunks(["ok"])))
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "What is 1/0?"),
        ChatMessage("assistant", "", tool_calls=(ToolCall("call_9", "builtin__calculator", {"expression": "1/0"}),)),
        ChatMessage("tool", "Division by zero.", tool_call_id="call_9", tool_name="builtin__calculator", is_error=True),
    ]
    await collect(openai(max_tokens=256), LLMRequest(history, [CALC]))
    body = sent_body(mocked)
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer sk-test-123"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 256
    assert body["tools"] == [{"type": "function", "function": {
        "name": "builtin__calculator", "description": "Evaluate arithmetic.", "parameters": CALC.input_schema}}]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 1/0?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_9", "type": "function", "function": {
            "name": "builtin__calculator", "arguments": '{"expression": "1/0"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "Error: Division by zero."},
    ]


async def test_openai_interleaved_parallel_tool_call_fragments_are_assembled_exactly(mocked):
    first = wire.openai_tool_call_chunks("call_a", "builtin__calculator", ['{"expre', 'ssion": "1', '2*7"}'],
                                         index=0, finish_reason=None)
    second = wire.openai_tool_call_chunks("call_b", "builtin__current_time", ['{"timezone":', ' "Europe/Paris"}'],
                                          index=1, role_chunk=False, finish_reason=None)
    # Interleave the argument fragments of the two calls, as parallel tool calls may arrive.
    chunks = [first[0], first[1], second[0], first[2], second[1], first[3], second[2], first[4],
              wire.openai_chunk({}, finish_reason="tool_calls")]
    mocked.post(OPENAI_URL, body=wire.openai_sse(chunks))
    events = await collect(openai())
    assert events[1:] == [
        ToolCall("call_a", "builtin__calculator", {"expression": "12*7"}),
        ToolCall("call_b", "builtin__current_time", {"timezone": "Europe/Paris"}),
        Finish("tool_calls", {}),
    ]


async def test_openai_without_done_is_a_cut_stream_after_its_text(mocked):
    mocked.post(OPENAI_URL, body=wire.openai_sse(wire.openai_text_chunks(["Half a "]), done=False))
    seen: list = []
    with pytest.raises(ProviderError, match=r"stream ended before \[DONE\]") as caught:
        async for event in openai().stream(ask()):
            seen.append(event)
    assert seen[1:] == [TextDelta("Half a ")] and caught.value.transient


async def test_openai_malformed_data_line_fails_the_stream(mocked):
    body = wire.openai_sse(wire.openai_text_chunks(["Hi"], finish_reason=None), done=False) + "data: {not json\n\n"
    mocked.post(OPENAI_URL, body=body)
    with pytest.raises(ProviderError, match="malformed stream: data is not JSON"):
        await collect(openai())


async def test_text_read_in_the_same_go_as_a_malformed_line_still_goes_out_before_the_failure(mocked):
    """Tokens that arrive together are merged into one delta (fewer frames when the process is behind); text
    decoded before a broken line of the same read is not lost to the failure."""
    body = wire.openai_sse(wire.openai_text_chunks(["Half ", "a ", "reply"], finish_reason=None), done=False)
    mocked.post(OPENAI_URL, body=body + "data: {not json\n\n")
    seen: list = []
    with pytest.raises(ProviderError, match="malformed stream"):
        async for event in openai().stream(ask()):
            seen.append(event)
    assert seen[1:] == [TextDelta("Half a reply")]


async def test_openai_error_object_mid_stream_fails_with_its_message(mocked):
    body = wire.openai_sse(wire.openai_text_chunks(["Hi"], finish_reason=None), done=False)
    body += wire.sse_frame(wire.openai_error_body("The server had an error", type="server_error"))
    mocked.post(OPENAI_URL, body=body)
    with pytest.raises(ProviderError, match="provider error: The server had an error"):
        await collect(openai())


async def test_openai_done_without_chunks_is_an_empty_stream(mocked):
    mocked.post(OPENAI_URL, body=wire.openai_sse([]))
    with pytest.raises(ProviderError, match="empty stream"):
        await collect(openai())


async def test_http_401_is_not_transient_and_keeps_the_providers_words(mocked):
    mocked.post(OPENAI_URL, status=401, json=wire.openai_error_body("Incorrect API key provided: sk-test***"))
    with pytest.raises(ProviderError) as caught:
        await collect(openai())
    assert caught.value.message == "HTTP 401: Incorrect API key provided: sk-test***"
    assert not caught.value.transient


async def test_http_429_is_transient_with_its_retry_after(mocked):
    mocked.post(OPENAI_URL, status=429, json=wire.openai_error_body("Slow down"), headers={"Retry-After": "7"})
    with pytest.raises(ProviderError) as caught:
        await collect(openai())
    assert (caught.value.message, caught.value.transient, caught.value.retry_after) == ("HTTP 429", True, 7.0)


async def test_connection_refused_and_read_timeout_are_transient(mocked):
    mocked.post(OPENAI_URL, body=requests.exceptions.ConnectionError("Connection refused"))
    mocked.post(OPENAI_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ProviderError, match="connection failed: Connection refused") as refused:
        await collect(openai())
    with pytest.raises(ProviderError, match=r"^timed out after 60 s$") as timed_out:
        await collect(openai())
    assert refused.value.transient and timed_out.value.transient



async def test_the_configured_timeouts_and_extra_headers_go_with_the_request(mocked):
    """configuration.md "Fields": `connect_timeout`, `read_timeout` and `headers` reach the HTTP request."""
    mocked.post(OPENAI_URL, body=wire.openai_sse(wire.openai_text_chunks(["ok"])))
    await collect(openai(connect_timeout=2, read_timeout=7, headers={"HTTP-Referer": "https://chat.example"}))
    request = mocked.calls[0].request
    assert request.req_kwargs["timeout"] == (2.0, 7.0)
    assert request.headers["HTTP-Referer"] == "https://chat.example"


# --- Anthropic ----------------------------------------------------------------------------------


async def test_anthropic_text_then_tool_use_with_split_input_json(mocked):
    events = wire.anthropic_tool_use_events(
        "toolu_01", "builtin__calculator", ['{"expr', 'ession"', ': "12*7"}'], text_parts=["Let me ", "check."],
        input_tokens=30, output_tokens=12,
    )
    mocked.post(ANTHROPIC_URL, body=wire.anthropic_sse(events), headers=wire.SSE_HEADERS)
    assert (await collect(anthropic()))[1:] == [
        TextDelta("Let me check."),  # the text read in one go is one delta; the tool call still comes after it
        ToolCall("toolu_01", "builtin__calculator", {"expression": "12*7"}),
        Finish("tool_calls", {"input_tokens": 30, "output_tokens": 12}),
    ]


async def test_anthropic_request_format_with_error_tool_result(mocked):
    mocked.post(ANTHROPIC_URL, body=wire.anthropic_sse(wire.anthropic_text_events(["ok"])))
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "What is 1/0?"),
        ChatMessage("assistant", "Let me see.", tool_calls=(ToolCall("toolu_1", "builtin__calculator", {"expression": "1/0"}),)),
        ChatMessage("tool", "Division by zero.", tool_call_id="toolu_1", is_error=True),
        ChatMessage("user", "And 2*2?"),
    ]
    await collect(anthropic(), LLMRequest(history, [CALC]))
    headers, body = mocked.calls[0].request.headers, sent_body(mocked)
    assert headers["x-api-key"] == "sk-test-123" and headers["anthropic-version"] == "2023-06-01"
    assert body["system"] == "Be brief." and body["stream"] is True and body["max_tokens"] == 4096
    assert body["tools"] == [{"name": "builtin__calculator", "description": "Evaluate arithmetic.",
                              "input_schema": CALC.input_schema}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 1/0?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me see."},
            {"type": "tool_use", "id": "toolu_1", "name": "builtin__calculator", "input": {"expression": "1/0"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Division by zero.", "is_error": True},
            {"type": "text", "text": "And 2*2?"}]},
    ]


async def test_anthropic_error_event_mid_stream_fails_after_the_text(mocked):
    events = wire.anthropic_text_events(["Partial "])[:4] + [wire.anthropic_error_event("Overloaded")]
    mocked.post(ANTHROPIC_URL, body=wire.anthropic_sse(events))
    seen: list = []
    with pytest.raises(ProviderError, match=r"provider error: Overloaded \(overloaded_error\)"):
        async for event in anthropic().stream(ask()):
            seen.append(event)
    assert seen[1:] == [TextDelta("Partial ")]


async def test_anthropic_without_message_stop_is_a_cut_stream(mocked):
    mocked.post(ANTHROPIC_URL, body=wire.anthropic_sse(wire.anthropic_text_events(["All ", "but"])[:-1]))
    with pytest.raises(ProviderError, match="stream ended before message_stop"):
        await collect(anthropic())


async def test_anthropic_pings_and_unknown_events_are_ignored(mocked):
    events = wire.anthropic_text_events(["Hi"])
    events[2:2] = [wire.anthropic_ping(), {"type": "some_future_event", "x": 1}]
    mocked.post(ANTHROPIC_URL, body=wire.anthropic_sse(events))
    assert [e for e in await collect(anthropic()) if isinstance(e, TextDelta)] == [TextDelta("Hi")]


async def test_anthropic_http_error_body_is_reported(mocked):
    mocked.post(ANTHROPIC_URL, status=400, json=wire.anthropic_error_body("max_tokens: too large", type="invalid_request_error"))
    with pytest.raises(ProviderError, match=r"^HTTP 400: max_tokens: too large$"):
        await collect(anthropic())
