"""Full-text search over document passages with the database's own index (built in migration 0005).

SQLite: an FTS5 table kept in step with `chat_documentchunk` by triggers, ranked by bm25, with the
porter stemmer. PostgreSQL: a GIN index over `to_tsvector('english', text)`, ranked by ts_rank.
Any word of the query may match (OR); passages holding more of them, and rarer ones, rank first.
Other databases fall back to a case-insensitive scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q

from chat.models import DocumentChunk

MAX_TERMS = 32
_TERM = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Passage:
    document_id: int
    document: str
    page: int | None
    text: str

    def cite(self) -> str:
        return f"{self.document}, page {self.page}" if self.page else self.document


def terms(query: str) -> list[str]:
    """The query's words, lower-cased and de-duplicated: nothing else of it reaches the SQL."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        seen.setdefault(term, None)
    return list(seen)[:MAX_TERMS]


def search(document_ids: list[int], query: str, limit: int) -> list[Passage]:
    """The best `limit` passages of these documents for `query`; empty when nothing matches."""
    words = terms(query)
    if not words or not document_ids:
        return []
    ids = _ranked_ids(connection.vendor, [int(i) for i in document_ids], words, limit)
    chunks = DocumentChunk.objects.filter(id__in=ids).select_related("document")
    by_id = {chunk.id: chunk for chunk in chunks}
    return [
        Passage(by_id[i].document_id, by_id[i].document.name, by_id[i].page, by_id[i].text) for i in ids if i in by_id
    ]


def _ranked_ids(vendor: str, document_ids: list[int], words: list[str], limit: int) -> list[int]:
    marks = ", ".join(["%s"] * len(document_ids))
    if vendor == "sqlite":
        sql = (
            "SELECT chat_documentchunk.id FROM chat_documentchunk_fts "
            "JOIN chat_documentchunk ON chat_documentchunk.id = chat_documentchunk_fts.rowid "
            f"WHERE chat_documentchunk_fts MATCH %s AND chat_documentchunk.document_id IN ({marks}) "
            "ORDER BY bm25(chat_documentchunk_fts), chat_documentchunk.id LIMIT %s"
        )
        params = [" OR ".join(f'"{word}"' for word in words), *document_ids, limit]
    elif vendor == "postgresql":
        sql = (
            "SELECT id FROM chat_documentchunk, to_tsquery('english', %s) AS query "
            f"WHERE document_id IN ({marks}) AND to_tsvector('english', text) @@ query "
            "ORDER BY ts_rank(to_tsvector('english', text), query) DESC, id LIMIT %s"
        )
        params = [" | ".join(words), *document_ids, limit]
    else:
        matching = reduce(or_, (Q(text__icontains=word) for word in words))
        return list(
            DocumentChunk.objects.filter(matching, document_id__in=document_ids).order_by("id").values_list("id", flat=True)[:limit]
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
