"""What the model is told about a conversation's documents, for each mode.

quote:    the documents' text, page by page, up to DOCUMENTS_QUOTE_BUDGET_CHARS characters; where it
          is cut, a note says so (and the chat page says so too, from `quote_cut`).
research: their names only, and the `documents__search` tool to find passages (tool_server.py).
Either way the model is asked to cite the document and page it used.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from chat.documents.selectors import conversation_documents
from chat.models import Conversation, Document, DocumentChunk

SEARCH_TOOL = "documents__search"
CITE = "cite the document and page you used, like (report.pdf, page 3)"


@dataclass(frozen=True)
class DocumentContext:
    mode: str
    note: str  # added to the system prompt

    @property
    def research(self) -> bool:
        return self.mode == "research"


def document_context(conversation_id: int) -> DocumentContext | None:
    """None when the conversation has no documents."""
    documents = conversation_documents(conversation_id=conversation_id)
    if not documents:
        return None
    mode = Conversation.objects.values_list("document_mode", flat=True).get(pk=conversation_id)
    if mode == "research":
        names = ", ".join(_label(d) for d in documents)
        return DocumentContext(mode, (
            f"The person attached documents that you can search with the {SEARCH_TOOL} tool: {names}. "
            f"Search them for what the person asks about, answer from the passages you find, and {CITE}."
        ))
    return DocumentContext(mode, _quoted(documents))


def quote_cut(documents: list[Document]) -> bool:
    """Whether quote mode leaves part of these documents out."""
    return sum(d.chars for d in documents) > settings.DOCUMENTS_QUOTE_BUDGET_CHARS


def _quoted(documents: list[Document]) -> str:
    """The documents' text, page by page, until the budget is spent: only the passages that fit are read."""
    budget = settings.DOCUMENTS_QUOTE_BUDGET_CHARS
    total = sum(d.chars for d in documents)
    parts = [f"The person attached these documents. Answer from them when they help, and {CITE}."]
    left = budget
    for document in documents:
        if left <= 0:
            break
        lines = [f'<document name="{document.name}">']
        page: int | None = None
        passages = DocumentChunk.objects.filter(document=document).order_by("position").only("page", "text")
        for chunk in passages.iterator(chunk_size=50):
            if left <= 0:
                break
            if chunk.page is not None and chunk.page != page:
                page = chunk.page
                lines.append(f"[page {page}]")
            lines.append(chunk.text[:left])
            left -= len(chunk.text)
        lines.append("</document>")
        parts.append("\n".join(lines))
    if total > budget:
        parts.append(
            f"[The documents were cut here: {budget:,} of their {total:,} characters fit. "
            "Say so if the answer may be in the part that was left out.]"
        )
    return "\n\n".join(parts)


def _label(document: Document) -> str:
    return f"{document.name} ({document.pages} pages)" if document.pages else document.name
