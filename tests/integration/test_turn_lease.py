"""The lease that makes one reply per conversation hold across processes, and frees what dead turns left."""

from __future__ import annotations

from datetime import timedelta

import pytest
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
