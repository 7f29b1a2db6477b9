"""Writes. Every change to conversations and messages goes through a function here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from chat.models import Conversation, Message

TITLE_CHARS = 60


def conversation_create(*, owner: AbstractBaseUser, first_text: str) -> Conversation:
    return Conversation.objects.create(owner=owner, title=_title_from(first_text))


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _next_seq(conversation_id: int) -> int:
    last = Message.objects.filter(conversation_id=conversation_id).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1


def message_create(*, conversation_id: int, role: str, **fields: Any) -> Message:
    """Append a message with the next sequence number; the unique (conversation, seq) guards races."""
    for _ in range(5):
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation_id=conversation_id, seq=_next_seq(conversation_id), role=role, **fields
                )
                Conversation.objects.filter(pk=conversation_id).update(updated_at=timezone.now())
                return message
        except IntegrityError:
            if fields.get("client_id") and Message.objects.filter(
                conversation_id=conversation_id, client_id=fields["client_id"]
            ).exists():
                raise
    raise IntegrityError(f"Could not allocate a sequence number in conversation {conversation_id}")


def user_message_create(*, conversation_id: int, text: str, client_id: str) -> tuple[Message, bool]:
    """Store the person's message once per client id; a resend returns the stored one and False."""
    existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
    if existing is not None:
        return existing, False
    try:
        return message_create(
            conversation_id=conversation_id, role=Message.Role.USER, content=text, client_id=client_id
        ), True
    except IntegrityError:
        return Message.objects.get(conversation_id=conversation_id, client_id=client_id), False


def message_update(*, message_id: int, **fields: Any) -> None:
    """Save fields of a message (content as it grows, final status, usage) in one UPDATE."""
    Message.objects.filter(pk=message_id).update(updated_at=timezone.now(), **fields)
