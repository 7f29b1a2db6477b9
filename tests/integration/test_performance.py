"""The performance suite at communicator level (`make perf`; deselected from the default run).

Every turn goes through the routed ASGI application, the offline demo model (no token delay) and
the built-in calculator: "what is 12*7" is a tool call and a reply. The figures go to
perf-results/ (tests/support/perf.py); no test asserts a time. Only a leak fails, or history
building that grows clearly faster than the conversation. docs/testing.md says why the bounds are
what they are. Sizes come from PERF_* variables, the issue's numbers by default.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chat.turns.history import build_history
from tests.support.perf import count, counts, percentiles, record, rss_mb
from tests.support.socket import Frame, connected, final_reply, of_type, receive_frame, receive_turn, send, send_message

pytestmark = [pytest.mark.performance, pytest.mark.django_db(transaction=True)]

QUESTION = "what is 12*7"
TURN_TIMEOUT = 120  # seconds for one turn: generous, for 50 users on two loaded cores; a bound, not a limit
# History building may take at most this many times longer per message at the longest length than at
# the reference length: linear growth is 1x; noise on two shared cores stays well inside 3x.
SUPERLINEAR_BOUND = 3.0
# Python heap that may stay allocated per turn after warm-up (tracemalloc) before the run counts as a leak.
LEAK_BOUND_KB_PER_TURN = 1.0


@pytest.fixture(autouse=True)
def unthrottled(settings: Any) -> None:
    """The load is the point here: the per-person message and replay limits would refuse it."""
    settings.CHAT_RATE_LIMIT_MESSAGES = 1_000_000
    settings.CHAT_REPLAYS_PER_MINUTE = 1_000_000
    settings.DEMO_TOKEN_DELAY_SECONDS = 0


@database_sync_to_async
def _people(n: int, prefix: str) -> list[Any]:
    model = get_user_model()
    return [model.objects.create_user(username=f"{prefix}{i}", password="perf-password") for i in range(n)]


async def _turn(comm: Any, conversation_id: int | None) -> tuple[float, float, int]:
    """One tool turn: (seconds to the first reply token, seconds to `turn.finished`, the conversation id)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send_message(comm, QUESTION, conversation_id)
    frames: list[Frame] = []
    await receive_frame(comm, "assistant.delta", timeout=TURN_TIMEOUT, seen=frames)
    first_token = loop.time() - started
    await receive_turn(comm, timeout=TURN_TIMEOUT, seen=frames)
    duration = loop.time() - started
    tools = of_type(frames, "tool.finished")
    assert tools and not tools[0]["is_error"], f"the calculator call did not succeed: {tools}"
    assert "84" in final_reply(frames)["text"], final_reply(frames)
    return first_token, duration, frames[-1]["conversation_id"]


async def _session(person: Any, turns: int) -> list[tuple[float, float]]:
    """One person's socket running `turns` tool turns in one conversation."""
    timings = []
    conversation_id = None
    async with connected(person) as comm:
        for _ in range(turns):
            first_token, duration, conversation_id = await _turn(comm, conversation_id)
            timings.append((first_token, duration))
    return timings


async def test_delay_against_concurrency():
    """1, 10 and 50 people at once, each running 10 tool turns: time to first token and turn duration."""
    per_user = count("turns_per_user", 10)
    rounds = []
    for n in counts("users", "1,10,50"):
        people = await _people(n, f"c{n}-")
        await _session(people[0], 1)  # warm-up: the tool server's session, imports, first queries
        began = time.perf_counter()
        sessions = await asyncio.gather(*(_session(person, per_user) for person in people))
        seconds = time.perf_counter() - began
        timings = [timing for session in sessions for timing in session]
        rounds.append({
            "users": n, "turns": len(timings), "seconds": round(seconds, 2),
            "turns_per_second": round(len(timings) / seconds, 2),
            "first_token": percentiles([first for first, _ in timings]),
            "turn": percentiles([duration for _, duration in timings]),
        })
        print(f"{n} users: {rounds[-1]}")
    record("concurrency", {"turns_per_user": per_user, "question": QUESTION, "rounds": rounds})


def _min_and_median(samples: list[float]) -> dict[str, float]:
    return {"min_ms": round(min(samples) * 1000, 2), "median_ms": round(statistics.median(samples) * 1000, 2)}


async def _reopen_seconds(person: Any, conversation_id: int) -> tuple[float, int]:
    """A fresh socket's `conversation.open` from the start: seconds until the replay's last frame, frames replayed."""
    async with connected(person) as comm:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=0)
        seen: list[Frame] = []
        opened = await receive_frame(comm, "conversation.opened", timeout=TURN_TIMEOUT, seen=seen)
        await receive_frame(comm, "assistant.completed", timeout=TURN_TIMEOUT, seen=seen,
                            where=lambda frame: frame["seq"] == opened["last_seq"])
        return loop.time() - started, len(seen) - 1


async def _build_seconds(conversation_id: int) -> float:
    def timed() -> float:
        started = time.perf_counter()
        build_history(conversation_id)
        return time.perf_counter() - started

    return await database_sync_to_async(timed)()


async def test_long_session_reopen_and_history_grow_at_most_linearly(user):
    """500 tool turns in one conversation; at several lengths, the reopen replay and build_history, timed."""
    total = count("session_turns", 500)
    checkpoints = sorted({max(1, total * share // 10) for share in (1, 2, 4, 6, 8, 10)})
    repeats = count("session_repeats", 5)
    points = []
    async with connected(user) as comm:
        conversation_id = None
        for done in range(1, total + 1):
            _, _, conversation_id = await _turn(comm, conversation_id)
            if done not in checkpoints:
                continue
            reopens = [await _reopen_seconds(user, conversation_id) for _ in range(repeats)]
            builds = [await _build_seconds(conversation_id) for _ in range(repeats)]
            messages = done * 4  # the question, the tool call, its result, the reply
            points.append({
                "turns": done, "messages": messages, "replayed_frames": reopens[0][1],
                "reopen": _min_and_median([seconds for seconds, _ in reopens]),
                "build_history": _min_and_median(builds),
            })
            print(f"{done} turns: {points[-1]}")
    reference = next((p for p in points if p["turns"] >= total // 5), points[0])  # 100 of 500 turns
    last = points[-1]

    def growth(key: str) -> float:
        per_message = [p[key]["min_ms"] / p["messages"] for p in (reference, last)]
        return round(per_message[1] / per_message[0], 2)

    ratios = {"build_history": growth("build_history"), "reopen": growth("reopen")}
    record("long_session", {
        "turns": total, "repeats": repeats, "points": points, "reference_turns": reference["turns"],
        "per_message_growth": ratios, "superlinear_bound": SUPERLINEAR_BOUND,
    })
    for key, ratio in ratios.items():
        assert ratio <= SUPERLINEAR_BOUND, (
            f"{key} per message at {last['messages']} messages is {ratio}x its figure at {reference['messages']}: "
            f"clearly super-linear (bound {SUPERLINEAR_BOUND}x); points: {points}"
        )


@contextmanager
def pytest_keeps_no_log_records() -> Iterator[None]:
    """pytest keeps every log record of a test for its report: over 1,000 turns that is growth of pytest's."""
    root = logging.getLogger()
    kept = [handler for handler in root.handlers if type(handler).__module__.startswith("_pytest")]
    for handler in kept:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in kept:
            root.addHandler(handler)


def _heap_mb() -> float:
    gc.collect()
    return round(tracemalloc.get_traced_memory()[0] / 2**20, 3)


async def _turns_traced(person: Any, warmup: int, total: int, every: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """Warm-up turns, then `total` turns under tracemalloc, 10 per conversation: samples and the top growth."""
    async with connected(person) as comm:
        conversation_id = None
        for done in range(warmup):
            _, _, conversation_id = await _turn(comm, None if done % 10 == 0 else conversation_id)
        tracemalloc.start()
        try:
            baseline = tracemalloc.take_snapshot()
            samples = [{"turns": 0, "rss_mb": rss_mb(), "traced_mb": _heap_mb()}]
            for done in range(1, total + 1):
                _, _, conversation_id = await _turn(comm, None if done % 10 == 1 else conversation_id)
                if done % every == 0 or done == total:
                    samples.append({"turns": done, "rss_mb": rss_mb(), "traced_mb": _heap_mb()})
            gc.collect()
            return samples, tracemalloc.take_snapshot().compare_to(baseline, "lineno")[:10]
        finally:
            tracemalloc.stop()


async def test_memory_stays_flat_over_many_turns(user):
    """1,000 tool turns after 100 of warm-up, 10 per conversation: RSS and the Python heap; fails on a leak."""
    warmup, total, every = count("memory_warmup", 100), count("memory_turns", 1000), count("memory_every", 50)
    with pytest_keeps_no_log_records():
        samples, top = await _turns_traced(user, warmup, total, every)
    # The first half of the window may still fill caches (sessions, compiled templates); a leak keeps growing.
    # A least-squares slope, so one sample taken mid-allocation cannot decide it.
    half = samples[len(samples) // 2:]
    per_turn_kb = round(statistics.linear_regression(
        [s["turns"] for s in half], [s["traced_mb"] * 1024 for s in half]).slope, 3) if len(half) > 1 else 0.0
    leak = per_turn_kb > LEAK_BOUND_KB_PER_TURN
    record("memory", {
        "warmup_turns": warmup, "turns": total, "samples": samples,
        "rss_growth_mb": round(samples[-1]["rss_mb"] - samples[0]["rss_mb"], 2),
        "traced_growth_mb": round(samples[-1]["traced_mb"] - samples[0]["traced_mb"], 3),
        "second_half_kb_per_turn": per_turn_kb, "leak_bound_kb_per_turn": LEAK_BOUND_KB_PER_TURN, "leak": leak,
        "top_growth": [{"where": str(stat.traceback), "size_kb": round(stat.size_diff / 1024, 1),
                        "count": stat.count_diff} for stat in top],
    })
    assert not leak, (
        f"the Python heap grew {per_turn_kb} KB per turn (slope) over the second half of {total} turns after warm-up "
        f"(bound {LEAK_BOUND_KB_PER_TURN} KB); where it grew most: " + "; ".join(f"{s}" for s in top[:5])
    )
