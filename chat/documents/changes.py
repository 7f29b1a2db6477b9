"""A conversation's documents changed (attach, detach, mode): the service, then every tab on it told.

The socket and the API both come through here, so an open chat page shows a change made with curl.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from chat.documents import services
from chat.documents.context import quote_cut
from chat.documents.selectors import brief, conversation_documents
from chat.models import Conversation
from chat.turns.fanout import publish


def documents_frame(conversation_id: int) -> dict[str, Any]:
    """`conversation.documents`: the conversation's mode, its documents, and whether quote mode cuts them."""
    mode = Conversation.objects.values_list("document_mode", flat=True).get(pk=conversation_id)
    documents = conversation_documents(conversation_id=conversation_id)
    return {
        "type": "conversation.documents", "conversation_id": conversation_id, "document_mode": mode,
        "documents": [brief(d) for d in documents], "quote_cut": mode == "quote" and quote_cut(documents),
    }


async def attach(*, owner: Any, conversation_id: int, document_ids: list[int]) -> dict[str, Any]:
    await database_sync_to_async(services.documents_attach)(
        owner=owner, conversation_id=conversation_id, document_ids=document_ids
    )
    return await _announce(conversation_id)


async def detach(*, owner: Any, conversation_id: int, document_id: int) -> dict[str, Any]:
    await database_sync_to_async(services.document_detach)(
        owner=owner, conversation_id=conversation_id, document_id=document_id
    )
    return await _announce(conversation_id)


async def set_mode(*, owner: Any, conversation_id: int, mode: str) -> dict[str, Any]:
    await database_sync_to_async(services.document_mode_set)(owner=owner, conversation_id=conversation_id, mode=mode)
    return await _announce(conversation_id)


async def _announce(conversation_id: int) -> dict[str, Any]:
    frame = await database_sync_to_async(documents_frame)(conversation_id)
    await publish(conversation_id, frame)
    return frame
