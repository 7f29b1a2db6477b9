"""A clock for the LLM chain that only moves when a test (or a backoff sleep) moves it."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait and jump the clock past it, at once."""
        self.sleeps.append(seconds)
        self.now += seconds

    def install(self, llm: Any) -> Any:
        """Drive a built chain (get_llm()) with this clock and sleep; returns it."""
        llm.sleep, llm.clock = self.sleep, self.clock
        return llm


async def one_loop_turn() -> None:
    """Let the other tasks run one step; no time passes."""
    await asyncio.sleep(0)  # allowed-sleep: yields one event-loop turn, waits for nothing
