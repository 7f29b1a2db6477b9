"""The fallback chain: try providers in order, retry transient failures, never splice two replies.

Before the first event with content, a transient failure (network, timeout, 429/5xx, malformed
or empty stream) is retried with backoff (honouring Retry-After), then the next provider is tried.
Once content went out, a failure ends the reply with LLMError. A request the provider calls
wrong (400/401/403/404) is reported with the provider's words, without fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from chat import metrics
from chat.llm.base import Finish, LLMError, LLMEvent, LLMRequest, Started
from chat.llm.breaker import CircuitBreaker
from chat.llm.config import ProviderConfig
from chat.llm.errors import ProviderError, loggable
from chat.llm.provider import HTTPProvider

log = logging.getLogger(__name__)


@dataclass
class _Opened:
    """A provider stream that produced its first content event, which is held here."""

    stream: AsyncIterator[LLMEvent]
    first: LLMEvent


class ProviderChain:
    """The LLM the turn engine gets when providers are configured.

    `sleep` and `clock` are attributes so tests can swap in fakes on the built chain.
    """

    offline = False

    def __init__(
        self,
        providers: list[HTTPProvider],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.sleep = sleep
        self.clock = clock
        self.breakers = {
            p.name: CircuitBreaker(
                p.name, p.config.breaker_failure_threshold, p.config.breaker_cooldown_seconds, lambda: self.clock()
            )
            for p in providers
        }
        self.label = ", then ".join(f"{p.name} ({p.model})" for p in providers)

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """Started(provider that answered, model), then that provider's events; LLMError if none could."""
        failures: list[str] = []
        for provider, asked in self._order(request):
            metrics.fallback(provider.name, failures)
            try:
                opened = await self._open(provider, asked)
            except ProviderError as exc:
                if not exc.transient:
                    raise LLMError(f"{provider.name}: {exc.message}") from exc
                log.warning("LLM provider %s failed before answering: %s", provider.name, loggable(exc))
                failures.append(f"{provider.name}: {exc.message}")
                continue
            # aclosing: closing this generator must close the provider's HTTP stream at once.
            async with contextlib.aclosing(self._relay(provider, opened, asked)) as events:
                async for event in events:
                    yield event
            return
        raise LLMError(self._all_failed(failures))

    def _order(self, request: LLMRequest) -> list[tuple[HTTPProvider, LLMRequest]]:
        """The providers to try, with what to ask each: the preferred provider (or the chain's first) with the
        request's model, then the rest of the chain in order, each with its configured model."""
        first = request.provider or self.providers[0].name
        plain = dataclasses.replace(request, provider="", model="")
        preferred = [(p, dataclasses.replace(request, provider="")) for p in self.providers if p.name == first]
        return preferred + [(p, plain) for p in self.providers if p.name != first]

    def _all_failed(self, failures: list[str]) -> str:
        if len(failures) == 1:
            return failures[0]
        return f"all {len(failures)} providers failed: " + "; ".join(failures)

    async def _open(self, provider: HTTPProvider, request: LLMRequest) -> _Opened:
        config = provider.config
        retrying = AsyncRetrying(
            stop=stop_after_attempt(config.max_retries + 1),
            wait=_wait_for(config),
            retry=retry_if_exception(lambda exc: _worth_retrying(exc, config)),
            sleep=lambda seconds: self.sleep(seconds),
            before_sleep=_log_retry(provider.name),
            reraise=True,
        )
        return await retrying(self._attempt, provider, request)

    async def _attempt(self, provider: HTTPProvider, request: LLMRequest) -> _Opened:
        """One HTTP request, read up to its first content event."""
        breaker = self.breakers[provider.name]
        if not breaker.allow():
            metrics.provider_request(provider.name, "circuit_open")
            raise ProviderError("circuit open, skipped", retryable=False)
        stream = provider.stream(request)
        try:
            async for event in stream:
                if not isinstance(event, Started):
                    breaker.record_success()
                    metrics.provider_request(provider.name, "ok")
                    return _Opened(stream, event)
            raise ProviderError("empty stream")
        except BaseException as exc:
            metrics.provider_failed(provider.name, exc)
            await stream.aclose()  # type: ignore[attr-defined]
            if isinstance(exc, ProviderError) and exc.transient:
                breaker.record_failure()
            else:
                breaker.release()
            raise

    async def _relay(self, provider: HTTPProvider, opened: _Opened, asked: LLMRequest) -> AsyncIterator[LLMEvent]:
        breaker = self.breakers[provider.name]
        try:
            yield Started(provider.name, provider.model_for(asked))
            yield opened.first
            if isinstance(opened.first, Finish):
                return
            async for event in opened.stream:
                yield event
        except ProviderError as exc:
            if exc.transient:
                breaker.record_failure()
            log.warning("LLM provider %s failed mid-reply: %s", provider.name, loggable(exc))
            raise LLMError(f"{provider.name}: {exc.message}") from exc
        finally:
            await opened.stream.aclose()  # type: ignore[attr-defined]


def _worth_retrying(exc: BaseException, config: ProviderConfig) -> bool:
    if not isinstance(exc, ProviderError) or not exc.retryable:
        return False
    # A provider asking for a longer pause than we are willing to make is skipped instead.
    return exc.retry_after is None or exc.retry_after <= config.retry_max_delay_seconds


def _wait_for(config: ProviderConfig) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return exc.retry_after
        return min(config.retry_backoff_seconds * 2 ** (state.attempt_number - 1), config.retry_max_delay_seconds)

    return wait


def _log_retry(name: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        log.warning("LLM provider %s: %s; retrying in %.1f s", name, loggable(exc) if exc else None, delay)

    return before_sleep
