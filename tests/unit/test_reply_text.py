"""Reply text is merged into fewer deltas when publishing falls behind, and never loses or repeats a character."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from chat.turns import fanout
from chat.turns.fanout import ReplyText
from tests.support.clock import one_loop_turn


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    record: dict[str, Any] = {"frames": [], "gate": asyncio.Event()}
    record["gate"].set()

    async def publish(conversation_id: int, frame: dict[str, Any], **_: Any) -> None:
        record["frames"].append(frame)
        await record["gate"].wait()

    monkeypatch.setattr(fanout, "publish", publish)
    return record


def reply() -> ReplyText:
    return ReplyText(SimpleNamespace(conversation_id=1, seq=2))  # type: ignore[arg-type]


def rebuilt(frames: list[dict[str, Any]]) -> str:
    text = ""
    for frame in frames:
        assert frame["offset"] <= len(text), "a gap"
        text = text[: frame["offset"]] + frame["text"]
    return text


async def test_text_that_arrives_while_a_publish_is_in_flight_goes_out_in_one_delta(published, monkeypatch):
    monkeypatch.setattr(fanout, "merge_window", lambda: 0.0)
    text = reply()
    published["gate"].clear()
    text.add("first ")
    await one_loop_turn()  # the first publish starts and hangs, like a slow channel layer
    for n in range(50):
        text.add(f"t{n} ")
    published["gate"].set()
    await text.flush()
    assert [f["offset"] for f in published["frames"]] == [0, 6]
    assert rebuilt(published["frames"]) == "first " + "".join(f"t{n} " for n in range(50))


async def test_while_the_loop_lags_a_delta_is_held_back_to_merge_what_follows(published, monkeypatch):
    monkeypatch.setattr(fanout, "merge_window", lambda: 0.1)
    window_open = asyncio.Event()
    text = reply()

    async def held(seconds: float) -> None:
        await window_open.wait()

    text.sleep = held
    for n in range(30):  # tokens keep arriving while the first delta's merge window is open
        text.add(f"w{n} ")
        await one_loop_turn()
    window_open.set()
    await text.flush()
    assert len(published["frames"]) == 2 and rebuilt(published["frames"]) == "".join(f"w{n} " for n in range(30))


async def test_with_no_lag_every_piece_goes_out_at_once(published, monkeypatch):
    monkeypatch.setattr(fanout, "merge_window", lambda: 0.0)
    text = reply()
    for n in range(5):
        text.add(f"p{n} ")
        await one_loop_turn()
        await one_loop_turn()
    await text.flush()
    assert [f["text"] for f in published["frames"]] == [f"p{n} " for n in range(5)]
