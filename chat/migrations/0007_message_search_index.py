"""A GIN index for full-text search of message text on PostgreSQL (chat/search.py); nothing on SQLite.

The expression is exactly what SearchVector("content", config="simple") compiles to, so the planner
can use the index for the search's `@@` filter.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS chat_message_content_fts ON chat_message "
    "USING GIN (to_tsvector('simple'::regconfig, COALESCE(content, '')))"
)
DROP = "DROP INDEX IF EXISTS chat_message_content_fts"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_voice")]
    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
