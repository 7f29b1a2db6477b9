"""The history check every test runs afterwards (tests/support/integrity.py) finds each kind of damage."""

import pytest

from chat import services
from chat.models import Message
from tests.support.integrity import history_problems
from tests.support.stored import store_line

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.leaves_broken_history]


def add(conversation, seq, role, **fields):
    return store_line(conversation, [Message(conversation=conversation, seq=seq, role=role, **fields)])[0]


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
    resent = services.conversation_create(owner=user, first_text="resent")
    add(resent, 1, "user", client_id="same")
    add(services.conversation_create(owner=other_user, first_text="theirs"), 1, "user", client_id="same")  # fine
    problems = history_problems()
    assert problems == [
        f"conversation {conversation.pk}: seq is not contiguous from 1: [1, 2, 3, 4, 6]",
        f"conversation {conversation.pk}: #6 assistant is 'streaming', not final",
        f"conversation {conversation.pk}: #2 tool call t1 has 2 tool messages, not 1",
        f"conversation {conversation.pk}: #2 tool call t2 has 0 tool messages, not 1",
        f"person {user.pk}: client id 'same' on 2 user messages (conversation {conversation.pk} #1, conversation {resent.pk} #1)",
    ]


def test_a_broken_tree_is_named(user):
    """A parent from another conversation (or a later message) breaks the tree; shown flags off the path to
    the shown leaf break the branch shown."""
    from chat.models import Conversation

    elsewhere = add(services.conversation_create(owner=user, first_text="elsewhere"), 1, "user")
    stray = services.conversation_create(owner=user, first_text="stray")
    add(stray, 1, "user")
    Message.objects.filter(conversation=stray, seq=1).update(parent=elsewhere)

    flags = services.conversation_create(owner=user, first_text="flags")
    add(flags, 1, "user")
    add(flags, 2, "assistant", content="a")
    Message.objects.filter(conversation=flags, seq=2).update(shown=False)  # the leaf itself hidden

    later = services.conversation_create(owner=user, first_text="later")
    first, second = add(later, 1, "user"), add(later, 2, "assistant", content="b")
    Message.objects.filter(pk=first.pk).update(parent=second)
    Conversation.objects.filter(pk=later.pk).update(shown_leaf=None)

    assert history_problems() == [
        f"conversation {stray.pk}: #1 has parent {elsewhere.pk}, not an earlier message of its conversation",
        f"conversation {flags.pk}: shown messages [1] are not the path to the shown leaf [1, 2]",
        f"conversation {later.pk}: #1 has parent {second.pk}, not an earlier message of its conversation",
    ]
