"""Documents: upload (multipart), list, read, download, delete; and a conversation's documents and mode.

Uploads are checked by content in a worker process (chat/documents/extract.py) with a time bound,
then stored by chat/documents/services.py. Downloads go through here, never a public URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Sum
from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import File, Router, Status, UploadedFile

from chat import offloop
from chat.api.errors import Problem
from chat.api.schemas import AttachIn, ConversationDocuments, DocumentList, DocumentOut, ModeIn
from chat.documents import changes, selectors, services
from chat.documents.extract import Refused, extract
from chat.models import Document

router = Router(tags=["documents"])

# A refusal's HTTP status; the rest are 422.
STATUS_OF_REFUSAL = {"too_large": 413, "over_quota": 413, "unsupported_type": 415}


def refused(exc: Refused) -> Problem:
    return Problem(STATUS_OF_REFUSAL.get(exc.code, 422), exc.message, code=exc.code)


async def upload_document(user: Any, upload: UploadedFile) -> tuple[Document, bool]:
    """Check, extract and store one upload; raises Refused with nothing stored."""
    limit = settings.DOCUMENTS_MAX_FILE_BYTES
    if upload.size is not None and upload.size > limit:
        raise Refused("too_large", f"The file is {upload.size / 1048576:.1f} MB; the limit is {limit / 1048576:.1f} MB.")
    data = await asyncio.to_thread(upload.read)  # may come from a temporary file: not on the loop, not on the ORM's thread
    if len(data) > limit:
        raise Refused("too_large", f"The file is larger than the limit of {limit / 1048576:.1f} MB.")
    name = upload.name or "document"
    try:
        extracted = await offloop.run(
            extract, name, data, settings.DOCUMENTS_MAX_PAGES, limit_seconds=settings.DOCUMENTS_EXTRACT_TIMEOUT_SECONDS
        )
    except offloop.Overrun as exc:
        raise Refused("extract_failed", f"Reading the file's text was stopped ({exc}); the file may be damaged.") from None
    return await database_sync_to_async(services.document_create)(owner=user, name=name, data=data, extracted=extracted)


@router.post(
    "/documents", response={200: DocumentOut, 201: DocumentOut},
    summary="Upload a document (multipart field `file`): PDF, text, Markdown, CSV or JSON",
    description="201 with the new document; 200 with the stored one when you uploaded the same bytes before. "
                "Refusals (nothing stored): 413 too_large / over_quota, 415 unsupported_type, 422 wrong_content, "
                "empty, no_text, encrypted_pdf, corrupt_pdf, too_many_pages, extract_failed.",
    openapi_extra={"responses": {"415": {"description": "Not an accepted type of file."}}},
)
async def create_document(request: HttpRequest, file: File[UploadedFile]) -> Status[Document]:
    try:
        document, created = await upload_document(request.auth, file)
    except Refused as exc:
        raise refused(exc) from None
    return Status(201 if created else 200, document)


@database_sync_to_async
def _list(user: Any) -> dict[str, Any]:
    documents = selectors.document_list(owner=user)
    return {
        "items": list(documents), "total_bytes": documents.aggregate(total=Sum("size"))["total"] or 0,
        "limit_bytes": settings.DOCUMENTS_MAX_TOTAL_BYTES,
    }


@router.get("/documents", response=DocumentList, summary="Your documents, newest first")
async def list_documents(request: HttpRequest) -> dict[str, Any]:
    return await _list(request.auth)


async def owned_document(user: Any, document_id: int) -> Document:
    document = await database_sync_to_async(selectors.document_get_owned)(owner=user, document_id=document_id)
    if document is None:
        raise Problem(404, "No such document.")
    return document


@router.get("/documents/{int:document_id}", response=DocumentOut, summary="One document")
async def get_document(request: HttpRequest, document_id: int) -> Document:
    return await owned_document(request.auth, document_id)


@router.get(
    "/documents/{int:document_id}/download", response={200: None}, summary="The uploaded file, as an attachment",
)
async def download_document(request: HttpRequest, document_id: int) -> HttpResponse:
    document = await owned_document(request.auth, document_id)
    try:
        handle = await database_sync_to_async(services.storage().open)(document.file.name, "rb")
    except OSError:
        raise Problem(404, "The document's file is missing from storage.", code="file_missing") from None
    return FileResponse(handle, as_attachment=True, filename=document.name, content_type=document.content_type)


@router.delete("/documents/{int:document_id}", response={204: None}, summary="Delete a document, its text and its file")
async def delete_document(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        await database_sync_to_async(services.document_delete)(owner=request.auth, document_id=document_id)
    except services.NotFound:
        raise Problem(404, "No such document.") from None
    return HttpResponse(status=204)


async def _change(coroutine: Any) -> dict[str, Any]:
    try:
        return await coroutine
    except services.NotFound:
        raise Problem(404, "No such conversation or document.") from None
    except Refused as exc:
        raise refused(exc) from None


@router.get(
    "/conversations/{int:conversation_id}/documents", response=ConversationDocuments,
    summary="A conversation's documents and mode",
)
async def conversation_documents(request: HttpRequest, conversation_id: int) -> dict[str, Any]:
    from chat.api.conversations import owned

    await owned(request.auth, conversation_id)
    return await database_sync_to_async(changes.documents_frame)(conversation_id)


@router.post(
    "/conversations/{int:conversation_id}/documents", response=ConversationDocuments,
    summary="Attach your documents to a conversation",
)
async def attach_documents(request: HttpRequest, conversation_id: int, body: AttachIn) -> dict[str, Any]:
    return await _change(changes.attach(owner=request.auth, conversation_id=conversation_id, document_ids=body.document_ids))


@router.patch(
    "/conversations/{int:conversation_id}/documents", response=ConversationDocuments,
    summary="Switch a conversation between quote and research mode",
)
async def set_document_mode(request: HttpRequest, conversation_id: int, body: ModeIn) -> dict[str, Any]:
    return await _change(changes.set_mode(owner=request.auth, conversation_id=conversation_id, mode=body.mode))


@router.delete(
    "/conversations/{int:conversation_id}/documents/{int:document_id}", response=ConversationDocuments,
    summary="Detach a document from a conversation (the document stays)",
)
async def detach_document(request: HttpRequest, conversation_id: int, document_id: int) -> dict[str, Any]:
    return await _change(changes.detach(owner=request.auth, conversation_id=conversation_id, document_id=document_id))
