"""The fallback chain and circuit breakers, with a fake clock and a recording sleep (no real waits)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
import responses

from chat.llm.base import ChatMessage, Finish, LLMError, LLMRequest, Started, TextDelta
from chat.llm.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from chat.llm.chain import ProviderChain
from chat.llm.config import ProviderConfig
from chat.llm.registry import build_provider
from tests.support import wire
from tests.support.clock import FakeTime

PRIMARY = "https://primary.test/v1/chat/completions"
BACKUP = "https://backup.test/v1/messages"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("LLM_TEST_KEY", "sk-test")


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def chain(fake_time: FakeTime, primary: dict[str, Any] | None = None, backup: dict[str, Any] | None = None,
          with_backup: bool = True) -> ProviderChain:
    configs = [ProviderConfig(name="primary", family="openai", base_url="https://primary.test/v1", model="gpt-4o-mini",
                              api_key_env="LLM_TEST_KEY", **{"max_retries": 0, **(primary or {})})]
    if with_backup:
        configs.append(ProviderConfig(name="backup", family="anthropic", base_url="https://backup.test/v1",
                                      model="claude-3-5-haiku-latest", api_key_env="LLM_TEST_KEY",
                                      **{"max_retries": 0, "read_timeout": 30, **(backup or {})}))
    return ProviderChain([build_provider(c) for c in configs], sleep=fake_time.sleep, clock=fake_time.clock)


REQUEST = LLMRequest([ChatMessage("user", "Hello")])


async def collect(llm: ProviderChain) -> list:
    return [event async for event in llm.stream(REQUEST)]


def openai_ok(*parts: str) -> str:
    return wire.openai_sse(wire.openai_text_chunks(parts or ["Hi from primary"]))


def anthropic_ok(*parts: str) -> str:
    return wire.anthropic_sse(wire.anthropic_text_events(parts or ["Hi from backup"]))


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_primary_503_falls_back_and_started_names_the_backup(mocked, fake_time):
    mocked.post(PRIMARY, status=503, json=wire.openai_error_body("busy", type="server_error"))
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time))
    assert events[0] == Started("backup", "claude-3-5-haiku-latest")
    assert text_of(events) == "Hi from backup"
    assert [e for e in events if isinstance(e, Started)] == [events[0]], "only the answering provider is announced"


async def test_429_retries_once_after_the_advertised_delay(mocked, fake_time):
    mocked.post(PRIMARY, status=429, json=wire.openai_error_body("rate limited"), headers={"Retry-After": "3"})
    mocked.post(PRIMARY, body=openai_ok())
    events = await collect(chain(fake_time, primary={"max_retries": 2}))
    assert fake_time.sleeps == [3.0]
    assert len(mocked.calls) == 2 and text_of(events) == "Hi from primary"


async def test_backoff_doubles_without_retry_after_then_moves_on(mocked, fake_time):
    mocked.post(PRIMARY, status=502)
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time, primary={"max_retries": 3, "retry_backoff_seconds": 0.5}))
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert events[0].provider == "backup"


async def test_retry_after_longer_than_the_limit_skips_to_the_next_provider(mocked, fake_time):
    mocked.post(PRIMARY, status=429, headers={"Retry-After": "600"})
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time, primary={"max_retries": 2, "retry_max_delay_seconds": 30}))
    assert fake_time.sleeps == [] and events[0].provider == "backup"


async def test_all_failing_names_every_provider_and_reason(mocked, fake_time):
    mocked.post(PRIMARY, status=503)
    mocked.post(BACKUP, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(LLMError) as caught:
        await collect(chain(fake_time))
    assert caught.value.message == "all 2 providers failed: primary: HTTP 503; backup: timed out after 30 s"


async def test_401_is_reported_without_trying_the_backup(mocked, fake_time):
    mocked.post(PRIMARY, status=401, json=wire.openai_error_body("Incorrect API key provided"))
    mocked.post(BACKUP, body=anthropic_ok())
    with pytest.raises(LLMError) as caught:
        await collect(chain(fake_time))
    assert caught.value.message == "primary: HTTP 401: Incorrect API key provided"
    assert [c.request.url for c in mocked.calls] == [PRIMARY]


async def test_failure_after_text_ends_the_reply_without_fallback(mocked, fake_time):
    mocked.post(PRIMARY, body=wire.openai_sse(wire.openai_text_chunks(["Partial "], finish_reason=None), done=False))
    mocked.post(BACKUP, body=anthropic_ok())
    seen: list = []
    with pytest.raises(LLMError, match=r"^primary: stream ended before \[DONE\]$"):
        async for event in chain(fake_time).stream(REQUEST):
            seen.append(event)
    assert text_of(seen) == "Partial " and len(mocked.calls) == 1


async def test_malformed_stream_before_any_text_falls_back(mocked, fake_time):
    mocked.post(PRIMARY, body="data: {oops\n\n")
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time))
    assert events[0].provider == "backup" and isinstance(events[-1], Finish)


async def test_breaker_opens_skips_probes_after_cooldown_and_closes(mocked, fake_time, caplog):
    llm = chain(fake_time, primary={"breaker_failure_threshold": 2, "breaker_cooldown_seconds": 60})
    breaker = llm.breakers["primary"]
    mocked.post(PRIMARY, status=500)
    mocked.post(BACKUP, body=anthropic_ok())
    with caplog.at_level(logging.WARNING, logger="chat.llm.breaker"):
        for _ in range(2):
            await collect(llm)
    assert breaker.state == OPEN
    assert "LLM provider primary circuit closed -> open" in caplog.text
    primary_calls = sum(c.request.url == PRIMARY for c in mocked.calls)

    events = await collect(llm)
    assert sum(c.request.url == PRIMARY for c in mocked.calls) == primary_calls, "an open circuit sends nothing"
    assert events[0].provider == "backup"

    fake_time.now += 60
    mocked.replace(responses.POST, PRIMARY, body=openai_ok())
    events = await collect(llm)
    assert events[0].provider == "primary" and breaker.state == CLOSED


async def test_failed_probe_reopens_the_circuit(mocked, fake_time):
    llm = chain(fake_time, primary={"breaker_failure_threshold": 1, "breaker_cooldown_seconds": 10})
    mocked.post(PRIMARY, status=503)
    mocked.post(BACKUP, body=anthropic_ok())
    await collect(llm)
    assert llm.breakers["primary"].state == OPEN
    fake_time.now += 10
    await collect(llm)
    assert llm.breakers["primary"].state == OPEN
    assert sum(c.request.url == PRIMARY for c in mocked.calls) == 2


def test_half_open_lets_one_probe_through_at_a_time(fake_time):
    breaker = CircuitBreaker("p", failure_threshold=1, cooldown_seconds=5, clock=fake_time.clock)
    breaker.record_failure()
    assert not breaker.allow()
    fake_time.now += 5
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow(), "a second request while the probe runs is skipped"
    breaker.release()
    assert breaker.allow(), "a probe that ended without a verdict frees the slot"


def test_label_lists_providers_in_order(fake_time):
    llm = chain(fake_time)
    assert llm.label == "primary (gpt-4o-mini), then backup (claude-3-5-haiku-latest)"
    assert llm.offline is False


# --- configuration.md's fallback rules at their bounds --------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504])
async def test_a_transient_status_before_any_text_falls_back_to_the_next_provider(mocked, fake_time, status):
    mocked.post(PRIMARY, status=status, json=wire.openai_error_body("try later"))
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time))
    assert events[0].provider == "backup" and text_of(events) == "Hi from backup"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_a_status_that_says_the_request_is_wrong_fails_without_fallback(mocked, fake_time, status):
    mocked.post(PRIMARY, status=status, json=wire.openai_error_body("bad request"))
    mocked.post(BACKUP, body=anthropic_ok())
    with pytest.raises(LLMError, match=rf"^primary: HTTP {status}"):
        await collect(chain(fake_time, primary={"max_retries": 2}))
    assert [c.request.url for c in mocked.calls] == [PRIMARY], "retried or fell back on a request the provider called wrong"


@pytest.mark.parametrize("max_retries", [0, 1, 2])
async def test_a_provider_is_asked_max_retries_more_times_and_no_more(mocked, fake_time, max_retries):
    mocked.post(PRIMARY, status=503)
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time, primary={"max_retries": max_retries}))
    assert sum(c.request.url == PRIMARY for c in mocked.calls) == 1 + max_retries
    assert events[0].provider == "backup"


async def test_the_backoff_doubles_up_to_retry_max_delay_seconds(mocked, fake_time):
    mocked.post(PRIMARY, status=502)
    mocked.post(BACKUP, body=anthropic_ok())
    await collect(chain(fake_time, primary={"max_retries": 3, "retry_backoff_seconds": 10, "retry_max_delay_seconds": 15}))
    assert fake_time.sleeps == [10.0, 15.0, 15.0]


@pytest.mark.parametrize(("retry_after", "sleeps", "answered_by"), [("30", [30.0], "primary"), ("31", [], "backup")])
async def test_a_retry_after_of_exactly_the_max_delay_is_waited_and_one_second_more_skips(
    mocked, fake_time, retry_after, sleeps, answered_by
):
    mocked.post(PRIMARY, status=429, headers={"Retry-After": retry_after})
    mocked.post(PRIMARY, body=openai_ok())
    mocked.post(BACKUP, body=anthropic_ok())
    events = await collect(chain(fake_time, primary={"max_retries": 1, "retry_max_delay_seconds": 30}))
    assert (fake_time.sleeps, events[0].provider) == (sleeps, answered_by)


async def test_the_circuit_opens_at_exactly_the_threshold_of_consecutive_failures(mocked, fake_time):
    llm = chain(fake_time, primary={"breaker_failure_threshold": 3})
    breaker = llm.breakers["primary"]
    mocked.post(PRIMARY, status=503)
    mocked.post(BACKUP, body=anthropic_ok())
    await collect(llm)
    await collect(llm)
    assert breaker.state == CLOSED, "opened before breaker_failure_threshold failures"
    mocked.replace(responses.POST, PRIMARY, body=openai_ok())
    await collect(llm)  # a success: the count starts again
    mocked.replace(responses.POST, PRIMARY, status=503)
    await collect(llm)
    await collect(llm)
    assert breaker.state == CLOSED, "failures before a success were still counted"
    await collect(llm)
    assert breaker.state == OPEN


def test_an_open_circuit_skips_until_exactly_the_cooldown_has_passed(fake_time):
    breaker = CircuitBreaker("p", failure_threshold=1, cooldown_seconds=30, clock=fake_time.clock)
    breaker.record_failure()
    fake_time.now += 29.999
    assert not breaker.allow() and breaker.state == OPEN
    fake_time.now += 0.001
    assert breaker.allow() and breaker.state == HALF_OPEN


async def test_a_preferred_provider_is_asked_first_with_its_model_and_the_chain_follows_in_order(mocked, fake_time):
    """README/architecture: a persona may prefer a provider and model and still falls back along the chain."""
    mocked.post(BACKUP, status=503)
    mocked.post(PRIMARY, body=openai_ok())
    request = LLMRequest([ChatMessage("user", "Hello")], provider="backup", model="claude-special")
    events = [event async for event in chain(fake_time).stream(request)]
    assert [c.request.url for c in mocked.calls] == [BACKUP, PRIMARY]
    assert json.loads(mocked.calls[0].request.body)["model"] == "claude-special"
    assert json.loads(mocked.calls[1].request.body)["model"] == "gpt-4o-mini", "the fallback asks its configured model"
    assert events[0] == Started("primary", "gpt-4o-mini")
