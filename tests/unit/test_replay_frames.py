"""The frames that bring a reopened tab up to date on one stored message (chat/frames.py: replay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chat.frames import replay, replay_all
from chat.models import Message

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def message(seq: int, role: str, status: str = "complete", **fields: object) -> Message:
    return Message(conversation_id=7, seq=seq, role=role, status=status, created_at=T0, updated_at=T0, **fields)


def test_a_user_message_replays_as_created_with_its_client_id() -> None:
    (frame,) = replay(message(1, "user", content="hello", client_id="c-1"))

    assert frame == {"type": "message.created", "conversation_id": 7, "seq": 1, "client_id": "c-1", "role": "user",
                     "text": "hello", "created_at": T0.isoformat()}


def test_a_finished_reply_replays_as_one_completed_frame_with_sanitized_html() -> None:
    (frame,) = replay(message(2, "assistant", content="**hi** <b>x</b>", provider="p", model="m"))

    assert (frame["type"], frame["seq"], frame["status"], frame["text"]) == ("assistant.completed", 2, "complete",
                                                                            "**hi** <b>x</b>")
    assert frame["html"] == "<p><strong>hi</strong> &lt;b&gt;x&lt;/b&gt;</p>\n"


def test_a_stopped_or_failed_reply_keeps_its_status_and_reason() -> None:
    (stopped,) = replay(message(2, "assistant", "stopped", content="Part"))
    (failed,) = replay(message(2, "assistant", "failed", error="primary: HTTP 503"))

    assert (stopped["status"], stopped["text"]) == ("stopped", "Part")
    assert (failed["status"], failed["error"]) == ("failed", "primary: HTTP 503")


def test_a_reply_still_streaming_replays_as_started_then_its_whole_text_from_offset_zero() -> None:
    frames = replay(message(2, "assistant", "streaming", content="Half a repl"))

    assert [f["type"] for f in frames] == ["assistant.started", "assistant.delta"]
    assert (frames[1]["offset"], frames[1]["text"]) == (0, "Half a repl")


def test_a_tool_call_still_running_replays_as_started_and_a_finished_one_with_its_result() -> None:
    running = message(3, "tool", "streaming", tool_call_id="c1", tool_name="builtin__calculator",
                      tool_arguments={"expression": "6*7"})
    done = message(3, "tool", tool_call_id="c1", tool_name="builtin__calculator", tool_arguments={"expression": "6*7"},
                   content="42", tool_outcome="result")
    done.updated_at = T0 + timedelta(milliseconds=250)

    (started,) = replay(running)
    (finished,) = replay(done)

    assert (started["type"], started["call_id"], started["arguments"]) == ("tool.started", "c1", {"expression": "6*7"})
    assert "result" not in started
    assert (finished["type"], finished["result"], finished["is_error"], finished["kind"], finished["duration_ms"]) == (
        "tool.finished", "42", False, "result", 250
    )
    assert (finished["server"], finished["tool"]) == ("builtin", "calculator")


def test_a_conversation_replays_in_stored_order() -> None:
    frames = replay_all([message(1, "user", content="q"), message(2, "assistant", content="a")])

    assert [(f["type"], f["seq"]) for f in frames] == [("message.created", 1), ("assistant.completed", 2)]
