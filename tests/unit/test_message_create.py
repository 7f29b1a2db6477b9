"""services.message_create: a sequence number taken by another writer is retried; a resend is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError

from chat import services
from chat.models import Message
from chat.services import messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation_id(user: Any) -> int:
    conversation = services.conversation_create(owner=user, title="t")
    services.message_create(conversation_id=conversation.pk, role="user", content="first", client_id="c1")
    return conversation.pk


@pytest.fixture
def next_seq(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """Make `_next_seq` answer from a script (another writer took these), then truly; returns what it answered."""

    def script(*taken: int, forever: bool = False) -> list[int]:
        answered: list[int] = []
        real = messages._next_seq

        def fake(conversation_id: int) -> int:
            seq = taken[0] if forever else (taken[len(answered)] if len(answered) < len(taken) else real(conversation_id))
            answered.append(seq)
            return seq

        monkeypatch.setattr(messages, "_next_seq", fake)  # where message_create looks it up
        return answered

    return script


def test_a_sequence_number_taken_by_another_writer_is_retried_with_the_next(conversation_id: int, next_seq: Any) -> None:
    answered = next_seq(1)

    message = services.message_create(conversation_id=conversation_id, role="assistant", content="reply")

    assert (message.seq, answered) == (2, [1, 2])
    assert list(Message.objects.filter(conversation_id=conversation_id).values_list("seq", "content")) == [
        (1, "first"), (2, "reply")
    ]


def test_a_resent_client_id_fails_at_once_without_a_retry(conversation_id: int, next_seq: Any) -> None:
    answered = next_seq()

    with pytest.raises(IntegrityError):
        services.message_create(conversation_id=conversation_id, role="user", content="again", client_id="c1")

    assert len(answered) == 1
    assert Message.objects.filter(conversation_id=conversation_id).count() == 1


def test_it_gives_up_after_five_collisions_naming_the_conversation(conversation_id: int, next_seq: Any) -> None:
    answered = next_seq(1, forever=True)

    with pytest.raises(IntegrityError, match=f"Could not allocate a sequence number in conversation {conversation_id}"):
        services.message_create(conversation_id=conversation_id, role="assistant", content="reply")

    assert answered == [1] * 5
    assert Message.objects.filter(conversation_id=conversation_id).count() == 1
