"""Reads on documents, each scoped to its owner: another person's document is None, like a missing one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from chat.models import Document


def document_list(*, owner: Any) -> QuerySet[Document]:
    return Document.objects.filter(owner=owner)


def document_get_owned(*, owner: Any, document_id: int) -> Document | None:
    return Document.objects.filter(owner=owner, pk=document_id).first()


def conversation_documents(*, conversation_id: int) -> list[Document]:
    """The documents attached to a conversation, oldest first (the order they are quoted in)."""
    return list(Document.objects.filter(conversations=conversation_id).order_by("created_at", "id"))


def brief(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk, "name": document.name, "content_type": document.content_type, "size": document.size,
        "pages": document.pages, "chars": document.chars, "text_status": document.text_status,
    }
