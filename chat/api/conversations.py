"""Conversations: list (newest first, title search), create, retrieve, rename, delete, export."""

from __future__ import annotations

from typing import Any, Literal

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from pydantic import Field

from chat import conversations, export, selectors, services
from chat.api.errors import Problem
from chat.api.personas import invalid
from chat.api.schemas import ConversationCreate, ConversationOut, ConversationPage, ConversationRename, In, Text
from chat.models import Conversation
from chat.services import Outcome

router = Router(tags=["conversations"])


class ExportQuery(In):
    format: Literal["md", "json"] = Field(default="json", description="md: Markdown for people; json: every field.")


class ListQuery(In):
    q: Text = Field(default="", max_length=200, description="Keep conversations whose title contains this.")
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)  # PostgreSQL's OFFSET is a bigint: bound it here


async def owned(user: Any, conversation_id: int) -> Conversation:
    """The person's conversation, or 404 (someone else's answers exactly like a missing one)."""
    conversation = await database_sync_to_async(selectors.conversation_get_owned)(
        owner=user, conversation_id=conversation_id
    )
    if conversation is None:
        raise Problem(404, "No such conversation.")
    return conversation


@database_sync_to_async
def _page(user: Any, query: ListQuery) -> dict[str, Any]:
    conversations = selectors.conversation_list(owner=user, query=query.q)
    items = list(conversations[query.offset : query.offset + query.limit])
    return {"items": items, "count": conversations.count(), "limit": query.limit, "offset": query.offset}


@router.get("", response=ConversationPage, summary="List your conversations, newest first")
async def list_conversations(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    return await _page(request.auth, query)


@router.post("", response={201: ConversationOut}, summary="Create an empty conversation, with personas as participants")
async def create_conversation(request: HttpRequest, body: ConversationCreate) -> Status[Conversation]:
    try:
        conversation = await database_sync_to_async(_create)(request.auth, body)
    except services.Invalid as exc:
        raise invalid(exc) from None
    return Status(201, conversation)


def _create(user: Any, body: ConversationCreate) -> Conversation:
    conversation = services.conversation_create(owner=user, title=body.title, persona_ids=body.persona_ids)
    return Conversation.objects.prefetch_related("participants").get(pk=conversation.pk)


@router.get("/{int:conversation_id}", response=ConversationOut, summary="One conversation")
async def get_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return await owned(request.auth, conversation_id)


@router.patch("/{int:conversation_id}", response=ConversationOut, summary="Rename a conversation")
async def rename_conversation(request: HttpRequest, conversation_id: int, body: ConversationRename) -> Conversation:
    conversation = await conversations.rename(owner=request.auth, conversation_id=conversation_id, title=body.title)
    if conversation is None:
        raise Problem(404, "No such conversation.")
    return conversation


@router.delete("/{int:conversation_id}", response={204: None}, summary="Delete a conversation and its messages")
async def delete_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    outcome = await conversations.delete(owner=request.auth, conversation_id=conversation_id)
    if outcome is Outcome.NOT_FOUND:
        raise Problem(404, "No such conversation.")
    if outcome is Outcome.BUSY:
        raise Problem(409, "A reply is being written in this conversation; stop it first.", code="busy")
    return HttpResponse(status=204)


@router.get(
    "/{int:conversation_id}/export", response={200: None}, summary="Download a conversation as Markdown or JSON",
    description="Every stored message in seq order with its timestamps, tool calls and their results, as an "
                "attachment (`text/markdown` or `application/json`).",
)
async def export_conversation(request: HttpRequest, conversation_id: int, query: Query[ExportQuery]) -> HttpResponse:
    exported = await database_sync_to_async(export.conversation_export)(
        owner=request.auth, conversation_id=conversation_id, fmt=query.format
    )
    if exported is None:
        raise Problem(404, "No such conversation.")
    response = HttpResponse(exported.body, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response
