"""The `documents` MCP server: `search` finds passages in the documents of the conversation asking.

The hub sends the conversation's id in the call's `_meta` (chat/tools/hub.py, `receives_context`);
the model never names it, so it cannot reach another conversation's documents, or another person's.
A call without that context finds nothing.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from chat.documents.index import Passage, search
from chat.documents.selectors import conversation_documents

CONVERSATION_META = "chatsite/conversation"
MAX_QUERY_CHARS = 500

server = MCPServer("documents", instructions="Full-text search in the documents attached to this conversation.")


@server.tool(name="search", title="Document search")
async def search_documents(query: str, ctx: Context) -> str:  # type: ignore[type-arg]
    """Find the passages of the attached documents that best match the query words. Each passage
    comes with its document and page: cite them in the answer."""
    if not query.strip():
        raise ToolError("Give some words to search for.")
    meta = ctx.request_context.meta or {}
    conversation_id = meta.get(CONVERSATION_META)
    if not isinstance(conversation_id, int):
        raise ToolError("Document search works only inside a conversation with documents.")
    passages = await database_sync_to_async(_search)(conversation_id, query[:MAX_QUERY_CHARS])
    if not passages:
        return f"No passage of the attached documents matches {query[:100]!r}. Try other words."
    found = "\n\n".join(f"[{n}] {p.cite()}\n{p.text}" for n, p in enumerate(passages, start=1))
    return f"{len(passages)} passage{'s' if len(passages) != 1 else ''} found:\n\n{found}"


def _search(conversation_id: int, query: str) -> list[Passage]:
    ids = [d.pk for d in conversation_documents(conversation_id=conversation_id)]
    return search(ids, query, settings.DOCUMENTS_SEARCH_RESULTS)
