"""A person's documents as chat context (docs/documents.md).

    extract.py      the file's kind by content, its text and pages, or why it is refused (no Django)
    chunks.py       text cut into passages on page, paragraph and sentence boundaries
    services.py     writes: upload (limits, de-duplication, storage), delete, attach, detach, mode
    selectors.py    reads: a person's documents, a conversation's, a download
    index.py        full-text search over passages: SQLite FTS5 or PostgreSQL tsvector
    context.py      what the model gets: quoted text within a budget, or the search tool's instructions
    tool_server.py  the `documents` MCP server and its `search` tool, scoped to one conversation
"""
