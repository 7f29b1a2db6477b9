"""Rename and delete a conversation the one way every door does it (socket, API): the service, then
every open tab of the person told, on any process (docs/protocol.md "The sidebar")."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import services
from chat.models import Conversation
from chat.services import Outcome


def person_group(user_id: int) -> str:
    """Every socket of one person: sidebar news (renames, deletions, replies being written) for all their tabs."""
    return f"person.{user_id}"


async def publish_to_person(user_id: int, frame: dict[str, Any]) -> None:
    """Sidebar news, outside the relay metrics (they measure a reply's frames)."""
    await get_channel_layer().group_send(person_group(user_id), {"type": "person.frame", "frame": frame})


async def rename(*, owner: Any, conversation_id: int, title: str) -> Conversation | None:
    """The renamed conversation, its tabs told; None when it is not owner's (the same answer as missing)."""
    conversation = await database_sync_to_async(services.conversation_rename)(
        owner=owner, conversation_id=conversation_id, title=title
    )
    if conversation is not None:
        await publish_to_person(owner.pk, renamed_frame(conversation))
    return conversation


async def delete(*, owner: Any, conversation_id: int) -> Outcome:
    """DELETED (its tabs told, so they leave it), BUSY while a reply is written, or NOT_FOUND."""
    outcome = await database_sync_to_async(services.conversation_delete)(owner=owner, conversation_id=conversation_id)
    if outcome is Outcome.DELETED:
        await publish_to_person(owner.pk, {"type": "conversation.deleted", "conversation_id": conversation_id})
    return outcome


def renamed_frame(conversation: Conversation) -> dict[str, Any]:
    return {
        "type": "conversation.renamed", "conversation_id": conversation.pk, "title": conversation.title,
        "updated_at": conversation.updated_at.isoformat(),
    }
