"""Search a person's conversations by title and message text: PostgreSQL's full-text search where the
database is PostgreSQL, a case-insensitive `icontains` elsewhere (SQLite). Never another person's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from chat.models import Conversation, Message

FTS_CONFIG = "simple"  # no stemming: what is marked in a result is what was typed, in any language
SNIPPET_CHARS = 120


@dataclass(frozen=True)
class SearchHit:
    id: int
    title: str
    updated_at: datetime
    snippet: str  # the start of a matching message, around the first match; empty when only the title matched


def conversation_search(*, owner: AbstractBaseUser, query: str, limit: int = 20, vendor: str | None = None) -> list[SearchHit]:
    """The person's conversations whose title or any message matches `query`, newest first."""
    query = " ".join(query.split())
    if not query:
        return []
    vendor = vendor or connection.vendor
    matching = matching_messages(query, vendor)
    conversations = (
        Conversation.objects.filter(owner=owner)
        .filter(title_matches(query, vendor) | Q(Exists(matching.filter(conversation=OuterRef("pk")))))
        .order_by("-updated_at", "-id")[:limit]
    )
    hits = []
    for conversation in conversations:
        message = matching.filter(conversation=conversation).order_by("seq").only("content").first()
        hits.append(SearchHit(
            conversation.pk, conversation.title, conversation.updated_at,
            snippet(message.content, query) if message else "",
        ))
    return hits


def matching_messages(query: str, vendor: str) -> QuerySet[Message]:
    """Messages on their conversation's branch shown whose text matches: a full-text match on PostgreSQL,
    any-case containment elsewhere. An earlier version is not found: opening the conversation would not show it."""
    messages = Message.objects.filter(shown=True).exclude(role=Message.Role.TOOL)
    if vendor == "postgresql":
        from django.contrib.postgres.search import SearchVector

        return messages.annotate(found=SearchVector("content", config=FTS_CONFIG)).filter(found=_fts_query(query))
    return messages.filter(content__icontains=query)


def title_matches(query: str, vendor: str) -> Q:
    """Titles are short: a part of a word matches everywhere (search as you type), and on PostgreSQL full-text too."""
    if vendor == "postgresql":
        return Q(title__icontains=query) | Q(Exists(
            Conversation.objects.filter(pk=OuterRef("pk")).annotate(
                found=_title_vector()
            ).filter(found=_fts_query(query))
        ))
    return Q(title__icontains=query)


def _title_vector() -> Any:
    from django.contrib.postgres.search import SearchVector

    return SearchVector("title", config=FTS_CONFIG)


def _fts_query(query: str) -> Any:
    from django.contrib.postgres.search import SearchQuery

    return SearchQuery(query, config=FTS_CONFIG, search_type="websearch")


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of text around the first occurrence of any of the query's words (any case)."""
    text = " ".join(text.split())
    words = sorted({re.escape(w) for w in query.split() if w}, key=len, reverse=True)
    found = re.search("|".join(words), text, re.IGNORECASE) if words else None
    start = max(0, (found.start() if found else 0) - width // 3)
    piece = text[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")
