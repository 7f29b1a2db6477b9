"""Tool frames carry what a card shows: a readable title (the tool's MCP title, else its name prettified) and a duration."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.scripted_model import ScriptedModel, probe_hub
from tests.support.socket import connected, of_type, receive_frame, run_turn, send

pytestmark = pytest.mark.django_db(transaction=True)


async def test_tool_frames_carry_a_readable_title_and_the_finished_call_its_duration(user, model: ScriptedModel):
    model.calls_several(
        ("probe__echo", {"text": "hi"}, "call_echo"),  # the probe server titles it "Echo text"
        ("probe__hang", {"seconds": 0.3}, "call_hang"),  # no MCP title: its name, prettified
        ("builtin__calculator", {"expression": "2+2"}, "call_calc"),
    ).says("Done.")
    async with probe_hub(), connected(user) as comm:
        frames = await run_turn(comm, "echo, wait, add")

    started = {frame["call_id"]: frame for frame in of_type(frames, "tool.started")}
    finished = {frame["call_id"]: frame for frame in of_type(frames, "tool.finished")}
    titles = {call_id: (frame["title"], frame["server"]) for call_id, frame in started.items()}
    assert titles == {
        "call_echo": ("Echo text", "probe"), "call_hang": ("Hang", "probe"), "call_calc": ("Calculator", "builtin"),
    }
    assert {call_id: frame["title"] for call_id, frame in finished.items()} == {
        call_id: title for call_id, (title, _) in titles.items()
    }
    assert "duration_ms" not in started["call_hang"]
    assert 300 <= finished["call_hang"]["duration_ms"] < 10_000
    assert 0 <= finished["call_echo"]["duration_ms"] < finished["call_hang"]["duration_ms"]


async def test_a_reopened_conversation_replays_the_same_titles_and_durations(user, model: ScriptedModel):
    model.calls("probe__hang", {"seconds": 0.2}).says("Woke.")
    async with probe_hub():
        async with connected(user) as comm:
            frames = await run_turn(comm, "wait a bit")
        live = of_type(frames, "tool.finished")[0]
        async with connected(user) as reopened:
            await send(reopened, "conversation.open", conversation_id=live["conversation_id"], last_seq=0)
            seen: list[dict[str, Any]] = []
            replayed = await receive_frame(reopened, "tool.finished", seen=seen)

    assert (replayed["title"], replayed["duration_ms"]) == (live["title"], live["duration_ms"]) == (
        "Hang", live["duration_ms"]
    )
    assert live["duration_ms"] >= 200
