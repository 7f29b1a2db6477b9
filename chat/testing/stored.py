"""What the database holds for a conversation: `stored_rows` from sync code (the browser suite), `stored` from
async tests (the ORM runs on channels' database thread)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.models import Message


def stored_rows(conversation_id: int) -> list[Message]:
    """Every stored message of the conversation, in seq order."""
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("seq"))


stored = database_sync_to_async(stored_rows)
