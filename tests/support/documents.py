"""Documents for tests: upload one through the API, attach it, and set a conversation's mode."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.api import API, patch, post
from tests.support.pdfs import PLANTED

__all__ = ["PLANTED", "attach", "set_mode", "upload", "uploaded"]


async def upload(client: Any, name: str, data: bytes) -> Any:
    """POST /documents, multipart, as a browser's form or curl -F sends it."""
    return await client.post(f"{API}/documents", {"file": SimpleUploadedFile(name, data)})


async def uploaded(client: Any, name: str, data: bytes) -> int:
    response = await upload(client, name, data)
    assert response.status_code in (200, 201), response.content
    return response.json()["id"]


async def attach(client: Any, conversation_id: int, *document_ids: int, mode: str | None = None) -> dict[str, Any]:
    response = await post(client, f"/conversations/{conversation_id}/documents", {"document_ids": list(document_ids)})
    assert response.status_code == 200, response.content
    if mode is not None:
        return await set_mode(client, conversation_id, mode)
    return response.json()


async def set_mode(client: Any, conversation_id: int, mode: str) -> dict[str, Any]:
    response = await patch(client, f"/conversations/{conversation_id}/documents", {"mode": mode})
    assert response.status_code == 200, response.content
    return response.json()
