"""The history check every test runs afterwards (chat/testing/integrity.py) finds each kind of damage."""

import pytest

from chat import services
from chat.models import Message
from chat.testing.integrity import history_problems

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.leaves_broken_history]


def add(conversation, seq, role, **fields):
    return Message.objects.create(conversation=conversation, seq=seq, role=role, **fields)


def test_an_intact_history_has_no_problems(user):
    conversation = services.conversation_create(owner=user, first_text="ok")
    add(conversation, 1, "user", client_id="c1")
    add(conversation, 2, "assistant", tool_calls=[{"id": "t1", "name": "x", "arguments": {}}])
    add(conversation, 3, "tool", tool_call_id="t1")
    add(conversation, 4, "assistant", content="done")
    assert history_problems() == []


def test_each_kind_of_damage_is_named_with_its_rows(user, other_user):
    conversation = services.conversation_create(owner=user, first_text="broken")
    add(conversation, 1, "user", client_id="same")
    add(conversation, 2, "assistant", tool_calls=[{"id": "t1", "name": "x", "arguments": {}}, {"id": "t2", "name": "y", "arguments": {}}])
    add(conversation, 3, "tool", tool_call_id="t1")
    add(conversation, 4, "tool", tool_call_id="t1")
    add(conversation, 6, "assistant", status="streaming")
    add(services.conversation_create(owner=user, first_text="resent"), 1, "user", client_id="same")
    add(services.conversation_create(owner=other_user, first_text="theirs"), 1, "user", client_id="same")  # fine
    problems = history_problems()
    assert problems == [
        f"conversation {conversation.pk}: seq is not contiguous from 1: [1, 2, 3, 4, 6]",
        f"conversation {conversation.pk}: #6 assistant is 'streaming', not final",
        f"conversation {conversation.pk}: #2 tool call t1 has 2 tool messages, not 1",
        f"conversation {conversation.pk}: #2 tool call t2 has 0 tool messages, not 1",
        f"person {user.pk}: client id 'same' on 2 user messages",
    ]
