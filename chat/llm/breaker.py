"""A circuit breaker per provider: stop calling a provider that keeps failing, probe it later.

Our own rather than pybreaker: pybreaker reads the wall clock (`datetime.now`) with no way to
inject one, its async path needs Tornado, and it wraps one synchronous call under a threading
lock, while here a "call" is an asyncio stream spanning many awaits. Tests drive this one with a
fake clock and read `state` directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chat import metrics

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """CLOSED -> OPEN after `failure_threshold` consecutive failures; OPEN skips calls; after
    `cooldown_seconds` one probe goes through (HALF_OPEN); its success closes, its failure reopens."""

    def __init__(
        self, name: str, failure_threshold: int, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False
        metrics.breaker_state(name, CLOSED)

    def allow(self) -> bool:
        """May a request go to this provider now? In HALF_OPEN only one probe at a time."""
        if self.state == OPEN:
            if self.clock() - self.opened_at < self.cooldown_seconds:
                return False
            self._transition(HALF_OPEN)
        if self.state == HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
        return True

    def record_success(self) -> None:
        self.failures = 0
        self._probing = False
        if self.state != CLOSED:
            self._transition(CLOSED)

    def record_failure(self) -> None:
        self._probing = False
        self.failures += 1
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.failure_threshold):
            self.opened_at = self.clock()
            self._transition(OPEN)

    def release(self) -> None:
        """The call ended without saying anything about the provider's health (stopped, or a 4xx)."""
        self._probing = False

    def _transition(self, state: str) -> None:
        log.warning(
            "LLM provider %s circuit %s -> %s (%d consecutive failures)", self.name, self.state, state, self.failures
        )
        metrics.breaker_transition(self.name, self.state, state)
        self.state = state
