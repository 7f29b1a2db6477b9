"""What the database holds for a conversation: `stored_rows` from sync code (the browser suite), `stored` from
async tests (the ORM runs on channels' database thread)."""

from __future__ import annotations

from datetime import timedelta

from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Conversation, Message


def stored_rows(conversation_id: int) -> list[Message]:
    """Every stored message of the conversation, in seq order."""
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("seq"))


stored = database_sync_to_async(stored_rows)


def store_line(conversation: Conversation, messages: list[Message], batch_size: int = 1000) -> list[Message]:
    """Store prepared messages (their seqs set) in bulk as a line after what the conversation shows: each
    follows the one before, and the last becomes the shown leaf, as the services would have left them."""
    created = Message.objects.bulk_create(messages, batch_size=batch_size)
    leaf = Conversation.objects.filter(pk=conversation.pk).values_list("shown_leaf_id", flat=True).get()
    for message in created:
        message.parent_id, leaf = leaf, message.pk
    Message.objects.bulk_update(created, ["parent"], batch_size=batch_size)
    Conversation.objects.filter(pk=conversation.pk).update(shown_leaf=leaf)
    return created


def hold_lease(conversation_id: int, token: str = "elsewhere") -> None:
    """Hold the conversation's lease as a turn on another process would (no message left streaming);
    token "" frees it again. `leased` from async tests."""
    until = timezone.now() + timedelta(seconds=60) if token else None
    Conversation.objects.filter(pk=conversation_id).update(turn_token=token, turn_lease_until=until)


leased = database_sync_to_async(hold_lease)
