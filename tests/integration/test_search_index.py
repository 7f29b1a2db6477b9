"""On PostgreSQL, the sidebar's message search can use its GIN index (migration 0007): the query's plan names
the index once sequential scans are ruled out (a test database is too small for the planner to prefer it)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from chat import services
from chat.models import Message
from chat.search import matching_messages

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (DATABASE_URL): the indexes exist only there; the scale-out pass runs this",
    ),
]


def plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_message_search_can_use_its_gin_index(user):
    conversation = services.conversation_create(owner=user, title="t")
    services.message_create(conversation_id=conversation.pk, role=Message.Role.USER, content="the night train", client_id="c")
    sql, params = matching_messages("night train", "postgresql").query.sql_with_params()
    assert "chat_message_content_fts" in plan(sql, list(params))
    assert list(matching_messages("night train", "postgresql").values_list("content", flat=True)) == ["the night train"]
