"""Search: the person's conversations by title and message text, the same selector as the chat page's search box."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from chat.api.schemas import In, Text
from chat.search import conversation_search

router = Router(tags=["conversations"])


class SearchQuery(In):
    q: Text = Field(min_length=1, max_length=200, description="Words to find in titles and messages (any case).")
    limit: int = Field(default=20, ge=1, le=100)


class SearchHitOut(Schema):
    id: int
    title: str
    updated_at: datetime
    snippet: str = Field(description="Text of the first matching message around the match; empty when only the title matched.")


class SearchOut(Schema):
    items: list[SearchHitOut]


@router.get("/search", response=SearchOut, summary="Search your conversations by title and message text")
async def search_conversations(request: HttpRequest, query: Query[SearchQuery]) -> dict[str, Any]:
    hits = await database_sync_to_async(conversation_search)(owner=request.auth, query=query.q, limit=query.limit)
    return {"items": hits}
