"""Uploading documents through the API: what is stored for each accepted format, what is refused and why
(with nothing stored, neither file nor row), de-duplication, ownership, download and deletion."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from chat.models import Document, DocumentChunk
from tests.support.api import API, assert_problem, bearer_client, client_of
from tests.support.documents import PLANTED, upload
from tests.support.pdfs import blank_pdf, corrupt_pdf, pdf_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def stored_files(media_root: Path) -> list[Path]:
    return sorted(p for p in media_root.rglob("*") if p.is_file())


@database_sync_to_async
def rows() -> tuple[int, int]:
    return Document.objects.count(), DocumentChunk.objects.count()


@database_sync_to_async
def chunk_texts(document_id: int) -> list[tuple[int | None, str]]:
    return list(DocumentChunk.objects.filter(document_id=document_id).order_by("position").values_list("page", "text"))


ACCEPTED = [
    ("report.pdf", pdf_bytes(["Quarterly report, page one.", PLANTED]), "application/pdf", 2, PLANTED),
    ("notes.txt", "Plain notes.\nSecond line with café.".encode(), "text/plain", None, "café"),
    ("readme.md", b"# Title\n\nSome *Markdown* text.", "text/markdown", None, "*Markdown*"),
    ("table.csv", b"name,count\ngulls,4711\nterns,12\n", "text/csv", None, "gulls,4711"),
    ("data.json", json.dumps({"birds": ["gull", "tern"], "count": 4711}).encode(), "application/json", None, '"tern"'),
]


@pytest.mark.parametrize(("name", "data", "content_type", "pages", "sentence"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
async def test_each_accepted_format_is_stored_with_its_metadata_and_text(user, media_root, name, data, content_type, pages, sentence):
    client = await client_of(user)
    response = await upload(client, name, data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == name and body["content_type"] == content_type and body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["pages"] == pages
    assert body["text_status"] == "extracted" and body["chars"] > 0
    texts = await chunk_texts(body["id"])
    assert any(sentence in text for _, text in texts), texts
    assert body["chars"] == sum(len(text) for _, text in texts)
    if pages:  # each passage knows its page: the planted sentence is on page 2
        assert [page for page, text in texts if PLANTED in text] == [2]
    files = stored_files(media_root)
    assert len(files) == 1 and files[0].read_bytes() == data
    download = await client.get(f"{API}/documents/{body['id']}/download")
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    assert download["Content-Disposition"].startswith("attachment")


REFUSED = [
    ("fake.pdf", b"GIF89a this is an image, not a PDF", 422, "wrong_content"),
    ("sneaky.txt", pdf_bytes(["a PDF named .txt"]), 422, "wrong_content"),
    ("binary.txt", b"\xff\xfe\x00\x01\x02 not text", 422, "wrong_content"),
    ("broken.json", b'{"a": 1,', 422, "wrong_content"),
    ("program.exe", b"MZ\x90\x00", 415, "unsupported_type"),
    ("empty.txt", b"", 422, "empty"),
    ("spaces.md", b"   \n\t\n  ", 422, "no_text"),
    ("scan.pdf", blank_pdf(2), 422, "no_text"),
    ("locked.pdf", pdf_bytes(["secret"], password="hunter2"), 422, "encrypted_pdf"),
    ("cut.pdf", corrupt_pdf(), 422, "corrupt_pdf"),
]


@pytest.mark.parametrize(("name", "data", "status", "code"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_each_refused_file_gets_its_error_and_stores_nothing(user, media_root, name, data, status, code):
    client = await client_of(user)
    problem = assert_problem(await upload(client, name, data), status, code)
    assert problem["detail"]
    assert await rows() == (0, 0)
    assert stored_files(media_root) == []


async def test_a_file_over_the_size_limit_is_refused_and_one_at_the_limit_is_stored(user, media_root, settings):
    settings.DOCUMENTS_MAX_FILE_BYTES = 100
    client = await client_of(user)
    assert_problem(await upload(client, "big.txt", b"x" * 101), 413, "too_large")
    assert await rows() == (0, 0) and stored_files(media_root) == []
    assert (await upload(client, "fits.txt", b"y" * 100)).status_code == 201


async def test_a_person_over_their_total_is_refused_and_nothing_is_stored(user, other_user, media_root, settings):
    settings.DOCUMENTS_MAX_TOTAL_BYTES = 250
    client = await client_of(user)
    assert (await upload(client, "a.txt", b"a" * 200)).status_code == 201
    problem = assert_problem(await upload(client, "b.txt", b"b" * 51), 413, "over_quota")
    assert "delete some" in problem["detail"]
    assert (await upload(client, "c.txt", b"c" * 50)).status_code == 201  # exactly at the total
    assert await database_sync_to_async(Document.objects.count)() == 2 and len(stored_files(media_root)) == 2
    # The total is per person: someone else still has all of theirs.
    assert (await upload(await client_of(other_user), "d.txt", b"d" * 200)).status_code == 201


async def test_a_hostile_file_name_is_made_safe(user, media_root):
    client = await client_of(user)
    response = await upload(client, '../../etc/<script>alert("x")</script>\x00\u202e.txt', b"hello")
    assert response.status_code == 201, response.content
    name = response.json()["name"]
    assert name.endswith(".txt") and "/" not in name and "<" not in name and '"' not in name
    assert "\x00" not in name and "\u202e" not in name and not name.startswith(".")
    (stored,) = stored_files(media_root)
    assert stored.resolve().is_relative_to(media_root.resolve())


async def test_the_same_file_uploaded_twice_is_stored_once(user, other_user, media_root):
    client = await client_of(user)
    first = await upload(client, "notes.txt", b"the same bytes")
    again = await upload(client, "renamed.txt", b"the same bytes")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(stored_files(media_root)) == 1
    # Another person's copy is theirs: stored separately.
    theirs = await upload(await client_of(other_user), "notes.txt", b"the same bytes")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


async def test_another_person_gets_404_on_the_document_its_download_and_its_deletion(user, other_user, media_root):
    mine = (await upload(await client_of(user), "mine.txt", b"private words")).json()
    for client in (await client_of(other_user), await bearer_client(other_user)):
        for path in (f"/documents/{mine['id']}", f"/documents/{mine['id']}/download"):
            assert_problem(await client.get(API + path), 404, "not_found")
        assert_problem(await client.delete(f"{API}/documents/{mine['id']}"), 404, "not_found")
        listing = await client.get(f"{API}/documents")
        assert listing.json()["items"] == []
    assert len(stored_files(media_root)) == 1


async def test_deleting_a_document_removes_its_file_and_its_passages(user, media_root):
    client = await client_of(user)
    kept = (await upload(client, "kept.txt", b"stays here")).json()
    gone = (await upload(client, "gone.pdf", pdf_bytes(["to be deleted"]))).json()
    assert len(stored_files(media_root)) == 2
    assert (await client.delete(f"{API}/documents/{gone['id']}")).status_code == 204
    assert await rows() == (1, 1)
    assert [p.read_bytes() for p in stored_files(media_root)] == [b"stays here"]
    assert_problem(await client.get(f"{API}/documents/{gone['id']}"), 404)
    assert (await client.get(f"{API}/documents/{kept['id']}")).status_code == 200


async def test_the_list_shows_what_the_documents_take(user, media_root, settings):
    client = await client_of(user)
    await upload(client, "one.txt", b"12345")
    await upload(client, "two.txt", b"1234567890")
    listing = (await client.get(f"{API}/documents")).json()
    assert [d["name"] for d in listing["items"]] == ["two.txt", "one.txt"]
    assert listing["total_bytes"] == 15 and listing["limit_bytes"] == settings.DOCUMENTS_MAX_TOTAL_BYTES
