"""Interim saves of a growing reply never multiply: one in flight, at most one per interval, none lost to a stall."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from chat.turns import saver as saver_module
from chat.turns.saver import GroupCommit, InterimSaver
from tests.support.clock import FakeTime, one_loop_turn


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Records each save; a save waits while `gate` is closed, like a slow database."""
    record: dict[str, Any] = {"texts": [], "gate": asyncio.Event()}
    record["gate"].set()

    async def save_text(message: Any, text: str) -> None:
        record["texts"].append(text)
        await record["gate"].wait()

    monkeypatch.setattr(saver_module, "save_text", save_text)
    return record


class SteppedTime(FakeTime):
    """Time moves only when the test moves it; a sleep waits (yielding) until the test got there."""

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target = self.now + seconds
        while self.now < target:  # noqa: ASYNC110 - the test's own loop moves this clock, token by token
            await one_loop_turn()


def saver_on(time: FakeTime, interval: float = 0.25) -> InterimSaver:
    saver = InterimSaver(SimpleNamespace(pk=1), interval=interval)
    saver.clock, saver.sleep = time.clock, time.sleep
    saver._started_at = time.now
    return saver


async def test_a_slow_save_is_never_joined_by_another(writes: dict[str, Any]) -> None:
    time = FakeTime()
    saver = saver_on(time)
    writes["gate"].clear()
    time.now += 0.3
    saver.note("a")
    for n in range(500):  # a token every 10 ms for 5 s while the first save hangs
        await one_loop_turn()
        time.now += 0.01
        saver.note("a" * (n + 2))
    assert writes["texts"] == ["a"]
    writes["gate"].set()
    for _ in range(5):
        await one_loop_turn()
    assert writes["texts"] == ["a", "a" * 501], "the text that arrived meanwhile goes in one save"
    await saver.settle()


async def test_saves_are_bounded_by_duration_over_interval(writes: dict[str, Any]) -> None:
    time = SteppedTime()
    saver = saver_on(time)
    for n in range(100):  # 100 tokens over 1 s
        time.now += 0.01
        saver.note(str(n))
        await one_loop_turn()
    await saver.settle()
    assert saver.writes == len(writes["texts"]) <= 1 / 0.25 + 1


async def test_text_that_stalls_is_still_saved_within_an_interval(writes: dict[str, Any]) -> None:
    time = FakeTime()
    saver = saver_on(time)
    saver.note("Half of")
    saver.note("Half of a story")  # then the provider goes quiet
    for _ in range(5):
        await one_loop_turn()
    assert writes["texts"] == ["Half of a story"] and time.sleeps == [0.25]


class GatedDatabase:
    """Records each transaction's saves; a transaction waits while `gate` is closed, like a slow disk."""

    def __init__(self) -> None:
        self.transactions: list[dict[int, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def write(self, contents: dict[int, str]) -> None:
        self.transactions.append(dict(contents))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk I/O error")


async def test_saves_queued_while_a_transaction_writes_go_together_in_the_next_one() -> None:
    database = GatedDatabase()
    commits = GroupCommit(write=database.write)
    database.gate.clear()
    first = asyncio.create_task(commits.save(1, "a"))
    await one_loop_turn()
    others = [asyncio.create_task(commits.save(n, f"text {n}")) for n in range(2, 102)]
    await one_loop_turn()
    assert database.transactions == [{1: "a"}], "the first save is written at once, alone"
    database.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *others), timeout=5)
    assert len(database.transactions) == 2 and database.transactions[1] == {n: f"text {n}" for n in range(2, 102)}


async def test_a_newer_text_of_a_queued_reply_replaces_it_and_both_savers_return() -> None:
    database = GatedDatabase()
    commits = GroupCommit(write=database.write)
    database.gate.clear()
    blocker = asyncio.create_task(commits.save(9, "busy"))
    await one_loop_turn()
    older = asyncio.create_task(commits.save(1, "Half"))
    newer = asyncio.create_task(commits.save(1, "Half of it"))
    await one_loop_turn()
    database.gate.set()
    await asyncio.wait_for(asyncio.gather(blocker, older, newer), timeout=5)
    assert database.transactions == [{9: "busy"}, {1: "Half of it"}]


async def test_a_failed_transaction_fails_each_of_its_saves_and_the_next_one_still_runs() -> None:
    database = GatedDatabase()
    commits = GroupCommit(write=database.write)
    database.fail_next = True
    with pytest.raises(OSError, match="disk I/O error"):
        await asyncio.wait_for(commits.save(1, "lost"), timeout=5)
    await asyncio.wait_for(commits.save(1, "kept"), timeout=5)
    assert database.transactions == [{1: "lost"}, {1: "kept"}]


async def test_a_growing_reply_is_read_whole_only_when_a_save_begins_not_per_token(writes: dict[str, Any]) -> None:
    """Work per token: 500 tokens over 1 s make at most a save's worth of whole-text reads, not 500."""
    from chat.turns.fanout import ReplyText

    class CountingReply(ReplyText):
        reads = 0

        @property
        def text(self) -> str:
            CountingReply.reads += 1
            return super().text

    reply = CountingReply(SimpleNamespace(conversation_id=1, seq=2))  # type: ignore[arg-type]
    time = SteppedTime()
    saver = saver_on(time)
    for n in range(500):
        time.now += 0.002
        reply._parts.append(f"t{n} ")  # what add() keeps, without publishing a delta
        saver.note(reply)
        await one_loop_turn()
    await saver.settle()
    assert writes["texts"][-1] == "".join(f"t{n} " for n in range(len(writes["texts"][-1].split())))
    assert CountingReply.reads <= 3 * (saver.writes + 1), f"{CountingReply.reads} whole-text reads for {saver.writes} saves"
