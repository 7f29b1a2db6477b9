"""The lease that makes one reply per conversation hold across processes, and frees what dead turns left."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services
from chat.models import Conversation, Message
from chat.services import INTERRUPTED, Outcome

# These drive the lease services without running turns, so they leave replies streaming on purpose.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.leaves_broken_history]


def leased(user, *, expired: bool, text: str = "hi") -> Conversation:
    conversation = services.conversation_create(owner=user, first_text=text)
    until = timezone.now() + timedelta(seconds=-5 if expired else 60)
    Conversation.objects.filter(pk=conversation.pk).update(turn_token="dead-or-alive", turn_lease_until=until)
    services.message_create(conversation_id=conversation.pk, role="user", content=text, client_id=f"c-{text}")
    services.message_create(conversation_id=conversation.pk, role="assistant", status="streaming", content="half a rep")
    services.message_create(conversation_id=conversation.pk, role="tool", status="streaming", tool_call_id="t1")
    return conversation


def accept(user, conversation: Conversation | None, client_id: str) -> services.Accepted:
    return services.message_accept(
        owner=user, conversation_id=conversation.pk if conversation else None, text="next", client_id=client_id,
        token=f"token-{client_id}", lease_seconds=30,
    )


def test_an_expired_lease_is_swept_its_reply_marked_interrupted_and_a_live_one_left_alone(user):
    dead, alive = leased(user, expired=True, text="dead"), leased(user, expired=False, text="alive")

    marked = services.turn_sweep()

    rows = {m.pk: m for m in Message.objects.filter(pk__in=marked)}
    assert {m.conversation_id for m in rows.values()} == {dead.pk} and len(rows) == 2
    assistant, tool = sorted(rows.values(), key=lambda m: m.seq)
    assert (assistant.status, assistant.error, assistant.content) == ("failed", INTERRUPTED, "half a rep")
    assert (tool.status, tool.is_error, tool.tool_outcome) == ("failed", True, "interrupted")
    assert Conversation.objects.get(pk=dead.pk).turn_token == ""
    assert Message.objects.filter(conversation=alive, status="streaming").count() == 2
    assert services.turn_sweep() == []


def test_a_send_into_a_live_lease_is_busy_and_into_an_expired_one_takes_it_over(user):
    dead, alive = leased(user, expired=True, text="dead"), leased(user, expired=False, text="alive")

    assert accept(user, alive, "to-alive").outcome is Outcome.BUSY
    taken = accept(user, dead, "to-dead")

    assert taken.outcome is Outcome.CREATED and taken.reply is not None
    assert Conversation.objects.get(pk=dead.pk).turn_token == "token-to-dead"
    assert [(m.role, m.status) for m in Message.objects.filter(conversation=dead)] == [
        ("user", "complete"), ("assistant", "failed"), ("tool", "failed"), ("user", "complete"), ("assistant", "streaming"),
    ]
    assert not Message.objects.filter(conversation=alive, client_id="to-alive").exists()


def test_a_resend_is_resent_even_while_the_conversation_is_busy_and_never_for_another_person(user, other_user):
    alive = leased(user, expired=False)
    assert accept(user, alive, "c-hi").outcome is Outcome.RESENT
    assert accept(other_user, alive, "c-hi").outcome is Outcome.NOT_FOUND
    assert accept(other_user, None, "c-hi").outcome is Outcome.CREATED  # the same client id, another person


def test_release_frees_only_with_the_turns_own_token(user):
    accepted = accept(user, None, "first")
    conversation_id = accepted.conversation.pk
    services.turn_lease_release(conversation_id=conversation_id, token="someone-else")
    assert Conversation.objects.get(pk=conversation_id).turn_token == accepted.token
    assert services.turn_leases_renew(tokens=[accepted.token, "swept"], lease_seconds=30) == {accepted.token}
    services.turn_lease_release(conversation_id=conversation_id, token=accepted.token)
    assert Conversation.objects.get(pk=conversation_id).turn_token == ""
    assert services.turn_leases_renew(tokens=[accepted.token], lease_seconds=30) == set()


def test_a_late_renewal_of_a_turn_running_in_this_process_is_not_taken_for_a_death(user):
    late = leased(user, expired=True, text="late")
    assert services.turn_sweep(alive=[late.pk]) == []
    assert Message.objects.filter(conversation=late, status="streaming").count() == 2
    assert len(services.turn_sweep()) == 2


def test_a_new_conversations_first_message_and_its_reply_are_stored_in_seven_statements(user):
    """A send into a new conversation is one transaction that every reply's first delta waits for, and under a
    burst the sends queue on one database thread: its statements are counted here (besides BEGIN and COMMIT).
    The conversation is made in that transaction, so its first message needs no savepoint, lock, seq read or
    leaf read (thirteen statements before)."""
    with CaptureQueriesContext(connection) as captured:
        accepted = services.message_accept(  # as a socket's send calls it (chat/turns/lifecycle.py)
            owner=user, conversation_id=None, text="next", client_id="first", token="token-first",
            lease_seconds=settings.CHAT_TURN_LEASE_SECONDS, max_replies=settings.CHAT_MAX_CONCURRENT_REPLIES,
        )
    statements = [q["sql"] for q in captured.captured_queries if not re.match(r"(BEGIN|COMMIT)\b", q["sql"])]

    assert accepted.outcome is Outcome.CREATED
    assert len(statements) == 7, "\n".join(statements)
    question, reply = Message.objects.filter(conversation=accepted.conversation).order_by("seq")
    assert (question.seq, question.parent_id, question.role, question.content) == (1, None, "user", "next")
    assert (reply.seq, reply.parent_id, reply.role, reply.status) == (2, question.pk, "assistant", "streaming")
    assert Conversation.objects.get(pk=accepted.conversation.pk).shown_leaf_id == reply.pk
    # and the conversation's next message follows the reply, as any later one does
    services.message_update(message_id=reply.pk, status="complete", content="done")
    services.turn_lease_release(conversation_id=accepted.conversation.pk, token="token-first")
    follow_up = accept(user, accepted.conversation, "second")
    assert (follow_up.message.seq, follow_up.message.parent_id, follow_up.reply.seq) == (3, reply.pk, 4)
