"""`/metrics` counts exactly what happened: a known workload through the real application, then exact deltas.

Metrics are process-global, so each test compares a scrape before its workload with one after.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import responses
from prometheus_client.multiprocess import mark_process_dead

import chat
from chat.llm import get_llm
from tests.support.clock import FakeTime
from tests.support.metrics import get_metrics, scrape
from tests.support.scripted_model import ScriptedModel, probe_hub
from tests.support.socket import connected, receive_frame, receive_turn, run_turn, send, send_message

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(chat.__file__).resolve().parent.parent
TOKEN = "metrics-test-token"
PRIMARY_URL = "https://llm.test/v1"
BACKUP_URL = "https://backup.test/v1"
PROVIDERS = [
    {"name": "primary", "family": "openai", "base_url": PRIMARY_URL, "model": "m", "api_key_env": "METRICS_TEST_KEY",
     "max_retries": 0, "breaker_failure_threshold": 1, "breaker_cooldown_seconds": 60},
    {"name": "backup", "family": "openai", "base_url": BACKUP_URL, "model": "b", "api_key_env": "METRICS_TEST_KEY",
     "max_retries": 0},
]
# Frames the turn engine publishes to a conversation's group; the rest are written straight to one socket.
PUBLISHED = {"assistant.started", "assistant.delta", "assistant.completed", "tool.started", "tool.finished", "turn.finished"}


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_FROM, settings.PROMETHEUS_MULTIPROC_DIR = TOKEN, [], ""
    return TOKEN


@pytest.fixture
def two_models(monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock) -> tuple[ScriptedModel, ScriptedModel]:
    """A scripted primary and backup at real URLs; unscripted, the primary answers 500 (a transient failure)."""
    monkeypatch.setenv("METRICS_TEST_KEY", "test-key")
    return (ScriptedModel().serve(mocked, f"{PRIMARY_URL}/chat/completions"),
            ScriptedModel().serve(mocked, f"{BACKUP_URL}/chat/completions"))


async def test_a_known_workload_is_counted_exactly(user, settings, metrics_token, two_models):
    """3 sockets; 7 messages with 1 resend; 2 tool calls, 1 failing; 1 fallback with the breaker opening and
    half-opening; 1 stop; 2 bad frames; 1 rate-limited frame."""
    primary, backup = two_models
    settings.CHAT_RATE_LIMIT_MESSAGES, settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 7, 600
    settings.CHAT_SAVE_INTERVAL_SECONDS = 3600  # no interim saves: every write below is counted by name
    settings.LLM_PROVIDERS, settings.DEMO_TOKEN_DELAY_SECONDS = "", 0.05  # the stop runs on the slow demo model
    received: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "c": []}
    before = await scrape(metrics_token)

    async with probe_hub() as (_, probe), AsyncExitStack() as sockets:
        a, b, c = [await sockets.enter_async_context(connected(user)) for _ in range(3)]
        during = await scrape(metrics_token)

        # 1: a stop, on the demo model
        await send_message(a, "tell me a long story")
        started = await receive_frame(a, "assistant.delta", seen=received["a"])
        await send(a, "generation.stop", conversation_id=started["conversation_id"])
        await receive_turn(a, seen=received["a"])

        settings.LLM_PROVIDERS = json.dumps(PROVIDERS)
        fake_time = FakeTime()
        fake_time.install(get_llm())

        # 2 and 3: a tool call that works, one that fails
        primary.calls("probe__echo", {"text": "hi", "times": 2}).says("It said hihi.")
        received["a"] += await run_turn(a, "echo hi twice")
        primary.calls("probe__fail", {"message": "boom"}).says("The tool failed.")
        await send_message(b, "make it fail", client_id="resent-once")
        await receive_turn(b, seen=received["b"])
        # 4: the same message again: de-duplicated, no new turn
        conversation = received["b"][-1]["conversation_id"]
        await send_message(b, "make it fail", conversation_id=conversation, client_id="resent-once")
        await receive_frame(b, "message.created", seen=received["b"])

        # 5: the primary fails, the breaker opens, the backup answers
        backup.says("From the backup.")
        received["c"] += await run_turn(c, "hello")
        breaker_open = await scrape(metrics_token)
        # 6: after the cooldown one probe goes to the primary (half-open) and closes the breaker
        fake_time.now += 60
        primary.says("Primary is back.")
        received["c"] += await run_turn(c, "hello again")
        # 7, then one message over the limit
        primary.says("Last one.")
        received["a"] += await run_turn(a, "one more")
        await send_message(a, "over the limit")
        await receive_frame(a, "error", seen=received["a"])
        # two bad frames
        await b.send_to(text_data="{not json")
        await receive_frame(b, "error", seen=received["b"])
        await send(b, "no.such.frame")
        await receive_frame(b, "error", seen=received["b"])

        for name, comm in (("a", a), ("b", b), ("c", c)):
            while not await comm.receive_nothing(timeout=0.1):  # sidebar news of the other sockets' replies
                frame = json.loads(await comm.receive_from(timeout=1))
                assert frame["type"] == "conversation.writing", f"a frame arrived that the test did not read: {frame}"
                received[name].append(frame)
    after = await scrape(metrics_token)
    delta = after - before

    frames = [frame for socket_frames in received.values() for frame in socket_frames]
    assert [call[0] for call in probe.calls] == ["echo", "fail"]
    assert len(primary.requests) == 7 and len(backup.requests) == 1

    # sockets
    assert (during - before).value("chat_sockets_open") == 3
    assert delta.value("chat_sockets_open") == 0
    assert delta.value("chat_socket_connects_total") == 3
    assert delta.by_label("chat_socket_disconnects_total", "code") == {"1000": 3}
    # frames
    assert delta.by_label("chat_frames_in_total", "type") == {"message.send": 8, "generation.stop": 1}
    assert delta.by_label("chat_frames_out_total", "type") == dict(Counter(frame["type"] for frame in frames))
    assert delta.by_label("chat_error_frames_total", "code") == {"rate_limited": 1, "invalid_json": 1, "unknown_type": 1}
    assert delta.by_label("chat_message_sends_total", "outcome") == {"created": 6, "resent": 1}
    assert delta.by_label("chat_rate_limited_total", "limit") == {"messages": 1}
    # messages and turns
    stored = {(dict(labels)["role"], dict(labels)["status"]): value for (name, labels), value in delta.samples.items()
              if name == "chat_messages_stored_total" and value}
    assert stored == {("user", "complete"): 6, ("assistant", "complete"): 7, ("assistant", "stopped"): 1,
                      ("tool", "complete"): 2}
    assert delta.value("chat_turns_started_total") == 6
    assert delta.by_label("chat_turns_finished_total", "status") == {"complete": 5, "stopped": 1}
    assert delta.by_label("chat_turn_duration_seconds_count", "status") == {"complete": 5, "stopped": 1}
    assert delta.by_label("chat_time_to_first_token_seconds_count", "provider") == {"demo": 1, "primary": 4, "backup": 1}
    assert delta.by_label("chat_tokens_per_second_count", "provider") == {"primary": 4, "backup": 1}
    relayed = sum(frame["type"] in PUBLISHED for frame in frames)
    assert delta.value("chat_relay_delay_seconds_count") == relayed
    # providers
    requests = {(dict(labels)["provider"], dict(labels)["outcome"]): value for (name, labels), value in delta.samples.items()
                if name == "chat_llm_provider_requests_total" and value}
    assert requests == {("primary", "ok"): 6, ("primary", "transient_error"): 1, ("backup", "ok"): 1}
    assert delta.by_label("chat_llm_fallbacks_total", "provider") == {"backup": 1}
    transitions = {(dict(labels)["from_state"], dict(labels)["to_state"]): value
                   for (name, labels), value in delta.samples.items()
                   if name == "chat_llm_breaker_transitions_total" and dict(labels)["provider"] == "primary" and value}
    assert transitions == {("closed", "open"): 1, ("open", "half_open"): 1, ("half_open", "closed"): 1}
    assert breaker_open.value("chat_llm_breaker_state", provider="primary") == 2
    assert after.value("chat_llm_breaker_state", provider="primary") == 0
    assert after.value("chat_llm_breaker_state", provider="backup") == 0
    # tools
    assert delta.value("chat_tool_calls_total", server="probe", tool="echo", outcome="result") == 1
    assert delta.value("chat_tool_calls_total", server="probe", tool="fail", outcome="error") == 1
    assert sum(delta.by_label("chat_tool_calls_total", "tool").values()) == 2
    assert delta.by_label("chat_tool_call_duration_seconds_count", "tool") == {"echo": 1, "fail": 1}
    # infrastructure: every frame relayed was published once, and so were the 6 message.created the sender skips
    assert delta.value("chat_channel_layer_publish_seconds_count") == relayed + 6
    assert delta.by_label("chat_db_save_seconds_count", "kind") == {"accept": 7, "create": 4, "final": 10}


WRITER = textwrap.dedent("""
    import sys
    from chat import metrics
    sockets = int(sys.argv[1])
    for n in range(sockets):
        metrics.socket_opened(f"socket-{n}")
        metrics.frame_in("message.send")
    metrics.socket_closed("socket-0", 1000)
    metrics.TOOL_DURATION.labels("builtin", "calculator").observe(0.02 * sockets)
    metrics.breaker_state("primary", "closed" if sockets < 3 else "open")
    print("ready", flush=True)
    sys.stdin.readline()
""")


async def test_the_metrics_of_several_processes_add_up(tmp_path: Path, settings: Any, metrics_token: str):
    """Two processes write to one PROMETHEUS_MULTIPROC_DIR; a scrape of this one sums them (and drops a dead
    process's open sockets, keeping its counters)."""
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(sockets), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for sockets in (3, 2)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            line = await asyncio.wait_for(writer.stdout.readline(), timeout=20)
            assert line == b"ready\n", f"a metrics writer did not start: {line!r}"
        both = await scrape(metrics_token)
        assert both.value("chat_socket_connects_total") == 5
        assert both.value("chat_sockets_open") == 3, "3 - 1 open in one process, 2 - 1 in the other"
        assert both.value("chat_socket_disconnects_total", code="1000") == 2
        assert both.value("chat_frames_in_total", type="message.send") == 5
        assert both.value("chat_tool_call_duration_seconds_count", server="builtin", tool="calculator") == 2
        assert both.value("chat_tool_call_duration_seconds_sum", server="builtin", tool="calculator") == pytest.approx(0.1)
        assert both.value("chat_llm_breaker_state", provider="primary") == 2, "the worst state of any process"

        first = writers[0]
        assert first.stdin is not None
        first.stdin.close()
        assert await asyncio.wait_for(first.wait(), timeout=20) == 0
        one_left = await scrape(metrics_token)
        assert one_left.value("chat_sockets_open") == 1, "an exited process's open sockets leave the sum"
        assert one_left.value("chat_llm_breaker_state", provider="primary") == 0
        assert one_left.value("chat_socket_connects_total") == 5, "its counters stay"
    finally:
        for writer in writers:
            if writer.returncode is None:
                writer.kill()
                await asyncio.wait_for(writer.wait(), timeout=20)
        for writer in writers:
            mark_process_dead(writer.pid, str(tmp_path))


async def test_metrics_are_refused_without_the_token_or_from_an_address_not_allowed(settings: Any):
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_FROM = "", []
    assert (await get_metrics(TOKEN)).status == 404, "with neither a token nor an allow list, nobody reads metrics"

    settings.METRICS_TOKEN = TOKEN
    for token in (None, "wrong-token", ""):
        refused = await get_metrics(token)
        assert refused.status == 401 and "chat_" not in refused.body, f"token {token!r} was not refused"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert (await get_metrics(TOKEN)).status == 200

    settings.METRICS_ALLOW_FROM = ["10.0.0.0/8", "192.0.2.7"]
    assert (await get_metrics(TOKEN, address="127.0.0.1")).status == 403, "the right token from elsewhere"
    assert (await get_metrics("wrong-token", address="10.1.2.3")).status == 401, "an allowed address without the token"
    assert (await get_metrics(TOKEN, address="10.1.2.3")).status == 200
    assert (await get_metrics(TOKEN, address="::ffff:192.0.2.7")).status == 200

    settings.METRICS_TOKEN = ""
    assert (await get_metrics(None, address="192.0.2.7")).status == 200, "an allow list alone is enough"
    refused = await get_metrics(None, address="192.0.2.8")
    assert refused.status == 403 and "chat_" not in refused.body
