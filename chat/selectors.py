"""Reads. Every query the consumer, the engine and the views need, with ownership built in."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from chat.models import Conversation, Message


def conversation_list(*, owner: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=owner).only("id", "title", "updated_at")


def conversation_get_owned(*, owner: AbstractBaseUser, conversation_id: int) -> Conversation | None:
    """The conversation if it exists and belongs to owner; None otherwise (the two look the same)."""
    return Conversation.objects.filter(owner=owner, pk=conversation_id).first()


def message_list(*, conversation_id: int, after_seq: int = 0) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq"))


def message_get(*, message_id: int) -> Message:
    return Message.objects.get(pk=message_id)
