"""Writes on documents: store an upload (limits, de-duplication, storage), delete, attach, detach, switch mode.

Every function takes the person and finds their object itself: another person's document or
conversation is `NotFound`, exactly like a missing one.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Sum

from chat.documents.chunks import split_pages
from chat.documents.extract import Extracted, Refused, clean_name
from chat.models import Conversation, Document, DocumentChunk

log = logging.getLogger(__name__)
MODES = ("quote", "research")


class NotFound(LookupError):
    """No such document or conversation, or not the person's."""


def storage() -> Any:
    return storages["documents"]


def document_create(*, owner: Any, name: str, data: bytes, extracted: Extracted) -> tuple[Document, bool]:
    """Store an upload whose text was extracted; (document, created). The same bytes again return the stored one.

    Raises Refused when the person's total would pass DOCUMENTS_MAX_TOTAL_BYTES; nothing is stored then.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(owner=owner, sha256=digest).first()
    if existing is not None:
        return existing, False
    name = clean_name(name)
    pages, status = _kept_text(extracted.pages)
    chunks = list(split_pages(pages, numbered=extracted.is_pdf))
    stored = ""
    try:
        with transaction.atomic():
            # One person's uploads are counted one at a time (PostgreSQL; SQLite's writes are serial anyway).
            get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
            used = Document.objects.filter(owner=owner).aggregate(total=Sum("size"))["total"] or 0
            limit = settings.DOCUMENTS_MAX_TOTAL_BYTES
            if used + len(data) > limit:
                raise Refused(
                    "over_quota",
                    f"Your documents would take {_mb(used + len(data))} of your {_mb(limit)}; delete some first.",
                )
            suffix = PurePosixPath(name).suffix.lower()
            stored = storage().save(f"documents/{owner.pk}/{uuid.uuid4().hex}{suffix}", ContentFile(data))
            document = Document.objects.create(
                owner=owner, name=name, file=stored, content_type=extracted.content_type, size=len(data),
                sha256=digest, pages=len(extracted.pages) if extracted.is_pdf else None,
                chars=sum(len(text) for _, text in chunks), text_status=status,
            )
            DocumentChunk.objects.bulk_create(
                DocumentChunk(document=document, position=position, page=page, text=text)
                for position, (page, text) in enumerate(chunks)
            )
    except IntegrityError:
        # The same file, uploaded by another of the person's requests a moment ago.
        _remove_file(stored)
        return Document.objects.get(owner=owner, sha256=digest), False
    except BaseException:
        _remove_file(stored)
        raise
    return document, True


def document_delete(*, owner: Any, document_id: int) -> None:
    """Delete the document, its passages and its file; conversations that used it no longer do."""
    document = Document.objects.filter(owner=owner, pk=document_id).first()
    if document is None:
        raise NotFound
    name = document.file.name
    document.delete()
    transaction.on_commit(lambda: _remove_file(name))  # a rolled-back delete keeps its file


def documents_attach(*, owner: Any, conversation_id: int, document_ids: list[int]) -> Conversation:
    """Add the person's documents to their conversation (already attached ones stay once)."""
    with transaction.atomic():
        conversation = _owned_conversation(owner, conversation_id)
        documents = list(Document.objects.filter(owner=owner, pk__in=document_ids))
        if len(documents) != len(set(document_ids)):
            raise NotFound
        attached = set(conversation.documents.values_list("pk", flat=True))
        if len(attached | {d.pk for d in documents}) > settings.DOCUMENTS_PER_CONVERSATION:
            raise Refused(
                "too_many_documents",
                f"A conversation can use at most {settings.DOCUMENTS_PER_CONVERSATION} documents; detach one first.",
            )
        conversation.documents.add(*documents)
    return conversation


def document_detach(*, owner: Any, conversation_id: int, document_id: int) -> None:
    conversation = _owned_conversation(owner, conversation_id)
    if not conversation.documents.filter(pk=document_id).exists():
        raise NotFound
    conversation.documents.remove(document_id)


def document_mode_set(*, owner: Any, conversation_id: int, mode: str) -> None:
    if mode not in MODES:
        raise Refused("invalid_mode", f"The mode must be one of: {', '.join(MODES)}.")
    if not Conversation.objects.filter(owner=owner, pk=conversation_id).update(document_mode=mode):
        raise NotFound


def _owned_conversation(owner: Any, conversation_id: int) -> Conversation:
    conversation = Conversation.objects.filter(owner=owner, pk=conversation_id).first()
    if conversation is None:
        raise NotFound
    return conversation


def _kept_text(pages: list[str]) -> tuple[list[str], str]:
    """The pages within DOCUMENTS_MAX_TEXT_CHARS; status says whether the rest was cut."""
    budget = settings.DOCUMENTS_MAX_TEXT_CHARS
    kept: list[str] = []
    for page in pages:
        if len(page) > budget:
            kept.append(page[:budget])
            return kept, Document.TextStatus.CUT
        kept.append(page)
        budget -= len(page)
    return kept, Document.TextStatus.EXTRACTED


def _remove_file(name: str) -> None:
    if not name:
        return
    try:
        storage().delete(name)
    except OSError:
        log.exception("Could not delete the stored file %s", name)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
