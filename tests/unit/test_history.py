"""What the model is sent: every tool call it made is answered, even one stopped before it ran."""

from __future__ import annotations

from typing import Any

import pytest

from chat import selectors
from chat.models import Message
from chat.turns.history import EARLIER_LEFT_OUT, STOPPED_CALL_RESULT, build_history


def call(call_id: str, name: str = "builtin__calculator") -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": {"expression": "1+1"}}


def user(seq: int, text: str) -> Message:
    return Message(conversation_id=1, seq=seq, role="user", content=text)


def assistant(seq: int, text: str = "", *calls: dict[str, Any], status: str = "complete") -> Message:
    return Message(conversation_id=1, seq=seq, role="assistant", content=text, tool_calls=list(calls), status=status)


def tool(seq: int, call_id: str, result: str) -> Message:
    return Message(conversation_id=1, seq=seq, role="tool", tool_call_id=call_id, tool_name="builtin__calculator",
                   content=result)


@pytest.fixture
def conversation(monkeypatch: pytest.MonkeyPatch) -> Any:
    def store(*messages: Message) -> None:
        def newest(*, conversation_id: int, limit: int, max_chars: int) -> tuple[list[Message], bool]:
            return list(messages)[-limit:], len(messages) > limit  # the count bound (the text bound: test_replay.py)

        monkeypatch.setattr(selectors, "message_page", newest)

    return store


def shape(history: list[Any]) -> list[tuple[str, str | None, str]]:
    return [(m.role, m.tool_call_id or None, m.content) for m in history[1:]]


def test_a_call_stopped_before_it_ran_is_answered_before_the_next_user_message(conversation: Any) -> None:
    conversation(user(1, "add"), assistant(2, "", call("c1")), user(3, "never mind"), assistant(4, "Fine."))

    assert shape(build_history(1)) == [
        ("user", None, "add"),
        ("assistant", None, ""),
        ("tool", "c1", STOPPED_CALL_RESULT),
        ("user", None, "never mind"),
        ("assistant", None, "Fine."),
    ]
    assert build_history(1)[3].is_error


def test_of_parallel_calls_only_the_unanswered_one_gets_the_stopped_result(conversation: Any) -> None:
    conversation(user(1, "two sums"), assistant(2, "", call("c1"), call("c2")), tool(3, "c1", "2"), user(4, "go on"))

    assert shape(build_history(1)) == [
        ("user", None, "two sums"),
        ("assistant", None, ""),
        ("tool", "c1", "2"),
        ("tool", "c2", STOPPED_CALL_RESULT),
        ("user", None, "go on"),
    ]


def test_an_unanswered_call_at_the_end_is_answered_too(conversation: Any) -> None:
    conversation(user(1, "add"), assistant(2, "Let me add.", call("c1")))

    history = build_history(1)
    assert shape(history)[-1] == ("tool", "c1", STOPPED_CALL_RESULT)
    assert [m.id for m in history[2].tool_calls] == ["c1"]


def test_every_call_is_answered_exactly_once(conversation: Any) -> None:
    conversation(user(1, "add"), assistant(2, "", call("c1")), tool(3, "c1", "2"), assistant(4, "It is 2."))

    tools = [m for m in build_history(1) if m.role == "tool"]
    assert [(m.tool_call_id, m.content) for m in tools] == [("c1", "2")]


def test_a_reply_still_streaming_or_empty_is_not_sent(conversation: Any) -> None:
    conversation(user(1, "hi"), assistant(2, "", status="failed"), user(3, "again"), assistant(4, "Hal", status="streaming"))

    assert shape(build_history(1)) == [("user", None, "hi"), ("user", None, "again")]


def test_a_long_conversation_sends_its_newest_messages_never_starting_with_an_orphan_result(conversation, settings):
    settings.CHAT_HISTORY_MAX_MESSAGES = 3
    conversation(
        user(1, "first question"), assistant(2, "", call("c1")), tool(3, "c1", "2"), assistant(4, "It is 2."),
        user(5, "thanks"),
    )
    history = build_history(1)
    assert EARLIER_LEFT_OUT in history[0].content
    # The window held the result of c1, whose call was left out: it goes too, so no result comes first.
    assert shape(history) == [("assistant", None, "It is 2."), ("user", None, "thanks")]


def test_a_conversation_within_the_bound_is_sent_whole_without_the_note(conversation, settings):
    settings.CHAT_HISTORY_MAX_MESSAGES = 5
    conversation(user(1, "q"), assistant(2, "", call("c1")), tool(3, "c1", "2"), assistant(4, "It is 2."), user(5, "ok"))
    history = build_history(1)
    assert EARLIER_LEFT_OUT not in history[0].content
    assert [m.role for m in history[1:]] == ["user", "assistant", "tool", "assistant", "user"]
