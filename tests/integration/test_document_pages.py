"""The documents page through Django's test client: only the person's own, what they take, and deletion
(another person's document is a 404 and stays)."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.documents import services
from chat.documents.extract import extract
from chat.models import Document

pytestmark = pytest.mark.django_db


def uploaded(owner, name: str, data: bytes) -> int:
    """Stored by the same service the API uses (the API's own tests are in test_upload_flow.py)."""
    return services.document_create(owner=owner, name=name, data=data, extracted=extract(name, data, 10))[0].pk


def logged_in(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def alice(user) -> Client:
    return logged_in(user)


@pytest.fixture
def mallory(other_user) -> Client:
    return logged_in(other_user)


def test_the_page_lists_only_the_persons_documents_and_what_they_take(alice, user, other_user, settings):
    settings.DOCUMENTS_MAX_TOTAL_BYTES = 10 * 1024
    mine = uploaded(user, "notes.txt", b"x" * 2048)
    uploaded(other_user, "theirs.txt", b"secret")  # a name the upload keeps: "<b>theirs</b>.txt" was stored as "b_.txt"
    page = alice.get("/documents/")
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    html = page.content.decode()
    assert "notes.txt" in html and "theirs" not in html
    assert "2.0\xa0KB" in html and "10.0\xa0KB" in html  # used of the limit
    assert f'href="/api/v1/documents/{mine}/download"' in html


def test_deleting_removes_the_document_and_its_file_and_another_persons_is_404(
    alice, mallory, user, other_user, media_root, django_capture_on_commit_callbacks
):
    mine = uploaded(user, "notes.txt", b"mine")
    theirs = uploaded(other_user, "theirs.txt", b"theirs")
    assert mallory.post(f"/documents/{mine}/delete/").status_code == 404
    assert Document.objects.filter(pk=mine).exists()
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once the deletion is committed
        response = alice.post(f"/documents/{mine}/delete/")
    assert response.status_code == 302 and response["Location"] == "/documents/"
    assert not Document.objects.filter(pk=mine).exists() and Document.objects.filter(pk=theirs).exists()
    assert [p.read_bytes() for p in media_root.rglob("*") if p.is_file()] == [b"theirs"]
    assert alice.get(f"/documents/{mine}/delete/").status_code == 405  # only a POST deletes


def test_the_page_needs_a_login(client):
    response = client.get("/documents/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
