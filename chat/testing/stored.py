"""What the database holds, read from async tests (the ORM runs on channels' database thread)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.models import Message


@database_sync_to_async
def stored(conversation_id: int) -> list[Message]:
    """Every stored message of the conversation, in seq order."""
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("seq"))
