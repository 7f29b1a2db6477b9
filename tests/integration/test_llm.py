"""The LLM layer through the real application: a logged-in socket, the turn engine, real providers.

Providers are mocked with `responses` registrations of real wire-format bodies (tests.support.wire)
at https://llm.test/v1 (OpenAI-compatible) and https://anthropic.test/v1 (Anthropic); the stop
test uses the scripted fake server on a loopback port, because only a real socket can stay open.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from chat.llm import get_llm
from chat.llm.breaker import CLOSED, OPEN
from tests.support import wire
from tests.support.cassette import replay
from tests.support.clock import FakeTime
from tests.support.fake_llm_server import FakeLLMServer, Hold, text_reply
from tests.support.providers import ANTHROPIC_URL, BACKUP, OPENAI_URL, PRIMARY, anthropic_text, bodies, openai_text
from tests.support.socket import connected, of_type, receive_frame, reply_text, run_turn, send, send_message
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "calculator_openai.json"


def final(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return of_type(frames, "assistant.completed")[-1]


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_text_reaches_the_client_in_the_order_the_provider_sent_it(user, use_providers, mocked, family):
    """The mocked body arrives whole, so the engine may merge its tokens into fewer deltas; order and text hold."""
    parts = ["Once ", "upon ", "a ", "time, ", "ünïcode ", "🎉 ", "ends."]
    if family == "openai":
        use_providers(PRIMARY)
        mocked.post(OPENAI_URL, body=openai_text(*parts), headers=wire.SSE_HEADERS)
    else:
        use_providers(BACKUP)
        mocked.post(ANTHROPIC_URL, body=anthropic_text(*parts), headers=wire.SSE_HEADERS)
    async with connected(user) as comm:
        frames = await run_turn(comm, "Tell me a story")

    deltas = of_type(frames, "assistant.delta")
    assert 1 <= len(deltas) <= len(parts) and deltas[0]["offset"] == 0
    done = final(frames)
    assert done["status"] == "complete" and done["text"] == "".join(parts) == reply_text(frames)
    assert done["provider"] == ("primary" if family == "openai" else "backup")


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_streamed_tool_call_runs_once_with_exact_arguments_and_its_result_goes_back(
    user, use_providers, mocked, family
):
    fragments = ['{"expr', 'ession"', ': "12', '*7"}']
    if family == "openai":
        use_providers(PRIMARY)
        url = OPENAI_URL
        mocked.post(url, body=wire.openai_sse(wire.openai_tool_call_chunks("call_1", "builtin__calculator", fragments)))
        mocked.post(url, body=openai_text("12*7 ", "is 84."))
    else:
        use_providers(BACKUP)
        url = ANTHROPIC_URL
        mocked.post(url, body=wire.anthropic_sse(wire.anthropic_tool_use_events("call_1", "builtin__calculator", fragments)))
        mocked.post(url, body=anthropic_text("12*7 ", "is 84."))
    async with connected(user) as comm:
        frames = await run_turn(comm, "What is 12*7?")

    finished = of_type(frames, "tool.finished")
    assert len(of_type(frames, "tool.started")) == 1 and len(finished) == 1
    assert (finished[0]["name"], finished[0]["arguments"]) == ("builtin__calculator", {"expression": "12*7"})
    assert (finished[0]["result"], finished[0]["is_error"]) == ("84", False)
    assert final(frames)["text"] == "12*7 is 84."
    sent = bodies(mocked, url)
    assert len(sent) == 2
    if family == "openai":
        assert sent[1]["messages"][-2]["tool_calls"][0]["function"] == {
            "name": "builtin__calculator", "arguments": '{"expression": "12*7"}'}
        assert sent[1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "84"}
    else:
        assert sent[1]["messages"][-2]["content"][-1] == {
            "type": "tool_use", "id": "call_1", "name": "builtin__calculator", "input": {"expression": "12*7"}}
        assert sent[1]["messages"][-1] == {
            "role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "84"}]}


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_failing_tool_error_is_sent_back_as_an_error_result_and_the_follow_up_arrives(
    user, use_providers, mocked, family
):
    arguments = ['{"expression": ', '"1/0"}']
    follow_up = ("You cannot ", "divide by zero.")
    if family == "openai":
        use_providers(PRIMARY)
        url = OPENAI_URL
        mocked.post(url, body=wire.openai_sse(wire.openai_tool_call_chunks("call_z", "builtin__calculator", arguments)))
        mocked.post(url, body=openai_text(*follow_up))
    else:
        use_providers(BACKUP)
        url = ANTHROPIC_URL
        mocked.post(url, body=wire.anthropic_sse(wire.anthropic_tool_use_events("call_z", "builtin__calculator", arguments)))
        mocked.post(url, body=anthropic_text(*follow_up))
    async with connected(user) as comm:
        frames = await run_turn(comm, "What is 1/0?")

    tool = of_type(frames, "tool.finished")[0]
    assert tool["is_error"] is True and "Division by zero" in tool["result"]
    assert final(frames)["text"] == "You cannot divide by zero."
    result = bodies(mocked, url)[1]["messages"][-1]
    if family == "openai":
        assert result["role"] == "tool" and result["tool_call_id"] == "call_z"
        assert result["content"].startswith("Error: ") and "Division by zero" in result["content"]
    else:
        block = result["content"][0]
        assert (block["type"], block["tool_use_id"], block["is_error"]) == ("tool_result", "call_z", True)
        assert "Division by zero" in block["content"]


async def test_primary_503_is_answered_by_the_backup_and_the_stored_reply_names_it(user, use_providers, mocked):
    use_providers(PRIMARY, BACKUP)
    mocked.post(OPENAI_URL, status=503, json=wire.openai_error_body("overloaded", type="server_error"))
    mocked.post(ANTHROPIC_URL, body=anthropic_text("Backup ", "here."))
    async with connected(user) as comm:
        frames = await run_turn(comm, "Hello")

    done = final(frames)
    assert (done["status"], done["text"], done["provider"], done["model"]) == (
        "complete", "Backup here.", "backup", "claude-3-5-haiku-latest")
    reply = (await stored(done["conversation_id"]))[-1]
    assert (reply.provider, reply.model, reply.content) == ("backup", "claude-3-5-haiku-latest", "Backup here.")


async def test_429_with_retry_after_is_retried_once_after_the_advertised_delay(user, use_providers, mocked):
    use_providers({**PRIMARY, "max_retries": 2})
    fake_time = FakeTime()
    fake_time.install(get_llm())
    mocked.post(OPENAI_URL, status=429, json=wire.openai_error_body("Rate limit reached"), headers={"Retry-After": "2"})
    mocked.post(OPENAI_URL, body=openai_text("After ", "waiting."))
    async with connected(user) as comm:
        frames = await run_turn(comm, "Hello")

    assert fake_time.sleeps == [2.0]
    assert len(mocked.calls) == 2
    assert (final(frames)["status"], final(frames)["text"]) == ("complete", "After waiting.")


async def test_breaker_opens_skips_the_provider_then_probes_after_the_cooldown(user, use_providers, mocked):
    use_providers({**PRIMARY, "breaker_failure_threshold": 2, "breaker_cooldown_seconds": 60}, BACKUP)
    fake_time = FakeTime()
    breaker = fake_time.install(get_llm()).breakers["primary"]
    mocked.post(OPENAI_URL, status=500)
    mocked.post(ANTHROPIC_URL, body=anthropic_text("From backup."))

    def primary_calls() -> int:
        return sum(call.request.url == OPENAI_URL for call in mocked.calls)

    async with connected(user) as comm:
        for _ in range(2):
            assert final(await run_turn(comm, "Hello"))["provider"] == "backup"
        assert (breaker.state, primary_calls()) == (OPEN, 2)

        assert final(await run_turn(comm, "Hello again"))["provider"] == "backup"
        assert primary_calls() == 2, "an open circuit skips the provider without an HTTP request"

        fake_time.now += 60
        mocked.replace(responses.POST, OPENAI_URL, body=openai_text("Primary ", "is back."))
        done = final(await run_turn(comm, "And now?"))
    assert (done["provider"], done["text"]) == ("primary", "Primary is back.")
    assert primary_calls() == 3, "exactly one probe after the cooldown"
    assert breaker.state == CLOSED


def _cut(body: str, marker: str) -> str:
    return body[: body.index(marker)]


FAILURES = {
    "malformed SSE line": (
        PRIMARY, OPENAI_URL,
        wire.openai_sse(wire.openai_text_chunks(["Partial ", "text"], finish_reason=None), done=False) + "data: {broken\n\n",
        "primary: malformed stream: data is not JSON: '{broken'",
    ),
    "error event mid-stream": (
        BACKUP, ANTHROPIC_URL,
        wire.anthropic_sse(wire.anthropic_text_events(["Partial ", "text"])[:5] + [wire.anthropic_error_event("Overloaded")]),
        "backup: provider error: Overloaded (overloaded_error)",
    ),
    "no [DONE]": (
        PRIMARY, OPENAI_URL,
        wire.openai_sse(wire.openai_text_chunks(["Partial ", "text"]), done=False),
        "primary: stream ended before [DONE]",
    ),
    "no message_stop": (
        BACKUP, ANTHROPIC_URL,
        wire.anthropic_sse(wire.anthropic_text_events(["Partial ", "text"])[:-1]),
        "backup: stream ended before message_stop",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_a_broken_stream_ends_failed_with_the_partial_text_kept(user, use_providers, mocked, case):
    provider, url, body, reason = FAILURES[case]
    use_providers(provider)
    mocked.post(url, body=body)
    async with connected(user) as comm:
        frames = await run_turn(comm, "Hello")

    done = final(frames)
    assert (done["status"], done["error"], done["text"]) == ("failed", reason, "Partial text")
    reply = (await stored(done["conversation_id"]))[-1]
    assert (reply.status, reply.error, reply.content) == ("failed", reason, "Partial text")


async def test_a_read_timeout_mid_stream_ends_failed_with_the_partial_text_kept(user, use_providers):
    with FakeLLMServer() as fake:
        use_providers({**PRIMARY, "base_url": fake.base_url, "read_timeout": 0.5})
        fake.script(text_reply("Partial ", "text", Hold("stalled")))
        async with connected(user) as comm:
            frames = await run_turn(comm, "Hello")

    done = final(frames)
    assert (done["status"], done["error"], done["text"]) == ("failed", "primary: timed out after 0.5 s", "Partial text")


async def test_when_every_provider_fails_the_reason_names_each_and_the_socket_stays_usable(
    user, use_providers, mocked
):
    use_providers(PRIMARY, BACKUP)
    mocked.post(OPENAI_URL, status=503)
    mocked.post(ANTHROPIC_URL, body=requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)"))
    async with connected(user) as comm:
        frames = await run_turn(comm, "Hello")
        done = final(frames)
        reason = "all 2 providers failed: primary: HTTP 503; backup: timed out after 30 s"
        assert (done["status"], done["error"], done["text"]) == ("failed", reason, "")
        assert (await stored(done["conversation_id"]))[-1].error == reason

        mocked.replace(responses.POST, OPENAI_URL, body=openai_text("Recovered."))
        again = await run_turn(comm, "Try again", conversation_id=done["conversation_id"])
    assert (final(again)["status"], final(again)["text"]) == ("complete", "Recovered.")


async def test_401_is_reported_with_the_providers_message_and_no_fallback(user, use_providers, mocked):
    use_providers(PRIMARY, BACKUP)
    mocked.post(OPENAI_URL, status=401, json=wire.openai_error_body("Incorrect API key provided: sk-te***key"))
    mocked.post(ANTHROPIC_URL, body=anthropic_text("Should not be used."))
    async with connected(user) as comm:
        frames = await run_turn(comm, "Hello")

    done = final(frames)
    assert (done["status"], done["error"]) == ("failed", "primary: HTTP 401: Incorrect API key provided: sk-te***key")
    assert [call.request.url for call in mocked.calls] == [OPENAI_URL]


async def test_stop_during_a_stream_closes_the_provider_response_and_keeps_the_partial_reply(user, use_providers):
    with FakeLLMServer() as fake:
        use_providers({**PRIMARY, "base_url": fake.base_url})
        fake.script(text_reply("Partial ", "reply", Hold("never released"), "never sent"))
        async with connected(user) as comm:
            seen: list[dict[str, Any]] = []
            await send_message(comm, "Tell me everything")
            await receive_frame(comm, "assistant.delta", where=lambda f: f["offset"] + len(f["text"]) == 13, seen=seen)
            await send(comm, "generation.stop", conversation_id=seen[0]["conversation_id"])
            done = await receive_frame(comm, "assistant.completed", seen=seen)
            # Fails unless the provider saw its response closed while the stream was still held.
            await asyncio.to_thread(fake.wait_for_outcome, 0, "client_closed", 5)
        assert len(fake.requests) == 1, "the stopped reply was asked for again"

    assert (done["status"], done["text"]) == ("stopped", "Partial reply")
    reply = (await stored(done["conversation_id"]))[-1]
    assert (reply.status, reply.content) == ("stopped", "Partial reply")


async def test_a_recorded_cassette_replays_to_the_same_reply(user, use_providers, mocked):
    use_providers(PRIMARY)
    recorded = replay(CASSETTE, mocked, base_url="https://llm.test/v1")
    async with connected(user) as comm:
        frames = await run_turn(comm, recorded.prompt)

    assert final(frames)["text"] == recorded.reply
    assert [f["name"] for f in of_type(frames, "tool.finished")] == recorded.tools_called
    assert len(mocked.calls) == len(recorded.interactions)
