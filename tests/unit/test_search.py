"""Search query building: full-text on PostgreSQL, icontains elsewhere; snippets around the first match.

The PostgreSQL branch is checked by compiling its SQL here, not by running it (the suite runs on SQLite).
"""

from __future__ import annotations

import pytest
from django.db import connection

from chat.models import Conversation
from chat.search import matching_messages, snippet, title_matches


def test_on_sqlite_messages_and_titles_match_with_icontains():
    sql = str(matching_messages("Night train", "sqlite").query)
    assert "LIKE" in sql and "%Night train%" in sql and "to_tsvector" not in sql
    assert "LIKE" in str(Conversation.objects.filter(title_matches("x", "sqlite")).query)


@pytest.mark.django_db
def test_on_postgresql_messages_match_with_a_websearch_full_text_query():
    pytest.importorskip("psycopg")
    from django.db.backends.postgresql.base import DatabaseWrapper

    postgres = DatabaseWrapper({**connection.settings_dict, "ENGINE": "django.db.backends.postgresql", "NAME": "unused"})
    query = matching_messages("night train", "postgresql").query
    sql, params = query.get_compiler(connection=postgres).as_sql()
    assert "to_tsvector" in sql and "websearch_to_tsquery" in sql and "@@" in sql
    assert "night train" in params
    titles = Conversation.objects.filter(title_matches("night", "postgresql")).query
    title_sql, _ = titles.get_compiler(connection=postgres).as_sql()
    assert "to_tsvector" in title_sql and "UPPER" in title_sql  # full text, or a part of a word


def test_a_snippet_is_cut_around_the_first_match_in_any_case():
    text = "x " * 200 + "the Night Train leaves at nine " + "y " * 200
    piece = snippet(text, "train")
    assert "Night Train leaves" in piece and piece.startswith("…") and piece.endswith("…") and len(piece) <= 122
    assert snippet("short text", "absent") == "short text"
