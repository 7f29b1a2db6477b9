"""Chatting about documents: what the model is sent in quote and research mode, the search tool and its
scope, citations, switching mode between turns, and a reopened conversation keeping its documents.

Uploads and settings go through the API; messages through a socket; the model is scripted at its real
URL (or is the offline demo model, which cites what it quotes).
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Document, Message
from tests.support.api import API, assert_problem, bearer_client, client_of, patch, post
from tests.support.documents import PLANTED, attach, set_mode, uploaded
from tests.support.pdfs import filler_pages, pdf_bytes
from tests.support.socket import connected, final_reply, of_type, receive_frame, run_turn, send
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "documents__search"


async def conversation_with(user: Any, *documents: tuple[str, bytes], mode: str = "quote") -> tuple[Any, int, list[int]]:
    """An API client, a new conversation, and these documents uploaded and attached in `mode`."""
    client = await client_of(user)
    cid = (await post(client, "/conversations", {"title": "reading"})).json()["id"]
    ids = [await uploaded(client, name, data) for name, data in documents]
    await attach(client, cid, *ids, mode=mode)
    return client, cid, ids


def system_prompt(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "system")


REPORT = ("report.pdf", pdf_bytes(filler_pages(4, planted=PLANTED, on_page=3)))


async def test_in_quote_mode_the_request_carries_the_documents_text_with_pages_and_no_search_tool(user, model):
    _, cid, _ = await conversation_with(user, ("notes.md", b"# Notes\n\nThe harbour opens at dawn."), REPORT)
    model.says("Noted.")
    async with connected(user) as tab:
        await run_turn(tab, "What do they say?", cid)
    system = system_prompt(model.requests[0])
    assert '<document name="notes.md">' in system and "The harbour opens at dawn." in system
    assert '<document name="report.pdf">' in system and "[page 3]\n" in system and PLANTED in system
    assert "cite the document and page" in system and "were cut" not in system
    assert SEARCH not in model.tool_names(0)


async def test_quote_mode_cuts_at_the_budget_and_says_so_to_the_model_and_the_page(user, model, settings):
    settings.DOCUMENTS_QUOTE_BUDGET_CHARS = 300
    text = "".join(f"Sentence number {n:03d} of the long file. " for n in range(40))  # 1,400 characters
    client, cid, _ = await conversation_with(user, ("long.txt", text.encode()))
    model.says("Noted.")
    async with connected(user) as tab:
        await send(tab, "conversation.open", conversation_id=cid, last_seq=0)
        opened = await receive_frame(tab, "conversation.opened")
        await run_turn(tab, "Summarise.", cid)
    system = system_prompt(model.requests[0])
    assert "Sentence number 000" in system and "Sentence number 007" in system  # within the first 300 characters
    assert "Sentence number 008" not in system and "Sentence number 039" not in system
    (document,) = opened["documents"]
    assert f"[The documents were cut here: 300 of their {document['chars']:,} characters fit." in system
    assert opened["quote_cut"] is True and document["name"] == "long.txt"
    # At the budget exactly nothing is cut.
    settings.DOCUMENTS_QUOTE_BUDGET_CHARS = document["chars"]
    assert (await client.get(f"{API}/conversations/{cid}/documents")).json()["quote_cut"] is False


async def test_in_research_mode_the_search_finds_the_planted_sentence_and_the_card_shows_it(user, model):
    _, cid, _ = await conversation_with(user, REPORT, ("other.txt", b"Nothing about birds here."), mode="research")
    model.calls(SEARCH, {"query": "how many gulls did the lighthouse keeper count"}).says("4711 (report.pdf, page 3).")
    async with connected(user) as tab:
        frames = await run_turn(tab, "How many gulls were counted?", cid)
    assert SEARCH in model.tool_names(0)
    system = system_prompt(model.requests[0])
    assert "report.pdf (4 pages)" in system and PLANTED not in system  # names only: the text comes from the tool
    result = model.tool_message(1)
    assert result.startswith("[1] report.pdf, page 3\n") or "[1] report.pdf, page 3\n" in result
    assert PLANTED in result.split("[2]")[0]  # the best passage comes first
    (card,) = of_type(frames, "tool.finished")
    assert card["name"] == SEARCH and PLANTED in card["result"] and not card["is_error"]
    assert "report.pdf, page 3" in final_reply(frames)["text"]


async def test_the_search_reaches_only_this_conversations_documents(user, other_user, model):
    await conversation_with(user, REPORT, mode="research")  # the planted sentence lives here
    _, elsewhere, _ = await conversation_with(user, ("birds.txt", b"Gulls and terns nest on cliffs."), mode="research")
    await conversation_with(other_user, ("theirs.txt", PLANTED.encode()), mode="research")
    model.calls(SEARCH, {"query": "lighthouse keeper counted gulls"}).says("Found.")
    async with connected(user) as tab:
        await run_turn(tab, "gulls?", elsewhere)
    result = model.tool_message(1)
    assert "birds.txt" in result and "lighthouse" not in result and "report.pdf" not in result


async def test_the_demo_model_searches_and_cites_the_document_and_page(user):
    _, cid, _ = await conversation_with(user, REPORT, mode="research")
    async with connected(user) as tab:
        frames = await run_turn(tab, "How many gulls did the lighthouse keeper count?", cid, timeout=15)
    (card,) = of_type(frames, "tool.finished")
    assert card["name"] == SEARCH and PLANTED in card["result"]
    reply = (await stored(cid))[-1]
    assert reply.role == Message.Role.ASSISTANT and reply.status == Message.Status.COMPLETE
    assert f'"{PLANTED}" (report.pdf, page 3)' in reply.content


async def test_the_demo_model_quotes_from_quoted_documents_with_their_page(user):
    _, cid, _ = await conversation_with(user, REPORT)
    async with connected(user) as tab:
        frames = await run_turn(tab, "How many gulls did the lighthouse keeper count?", cid, timeout=15)
    assert of_type(frames, "tool.started") == []
    assert f'"{PLANTED}" (report.pdf, page 3)' in final_reply(frames)["text"]


async def test_switching_mode_between_turns_changes_the_next_request(user, model):
    client, cid, _ = await conversation_with(user, ("notes.txt", b"The harbour opens at dawn."))
    model.says("Quoted.").says("Searching next time.")
    async with connected(user) as tab:
        await run_turn(tab, "first", cid)
        changed = await set_mode(client, cid, "research")
        assert changed["document_mode"] == "research"
        announced = await receive_frame(tab, "conversation.documents")  # the open tab is told
        assert announced["document_mode"] == "research"
        await run_turn(tab, "second", cid)
    assert "The harbour opens at dawn." in system_prompt(model.requests[0]) and SEARCH not in model.tool_names(0)
    assert "The harbour opens at dawn." not in system_prompt(model.requests[1]) and SEARCH in model.tool_names(1)


async def test_a_reopened_conversation_keeps_its_documents_and_mode(user, model):
    _, cid, ids = await conversation_with(user, REPORT, ("notes.txt", b"Some notes."), mode="research")
    async with connected(user) as later:
        await send(later, "conversation.open", conversation_id=cid, last_seq=0)
        opened = await receive_frame(later, "conversation.opened")
    assert opened["document_mode"] == "research" and opened["quote_cut"] is False
    assert [d["id"] for d in opened["documents"]] == ids and opened["documents"][0]["pages"] == 4


async def test_detaching_and_deleting_documents_leave_the_conversation_without_them(user, model):
    client, cid, (report, notes) = await conversation_with(user, REPORT, ("notes.txt", b"Some notes."))
    detached = await client.delete(f"{API}/conversations/{cid}/documents/{report}")
    assert [d["id"] for d in detached.json()["documents"]] == [notes]
    assert (await client.get(f"{API}/documents/{report}")).status_code == 200  # detached, not deleted
    assert (await client.delete(f"{API}/documents/{notes}")).status_code == 204
    assert (await client.get(f"{API}/conversations/{cid}/documents")).json()["documents"] == []
    model.says("Nothing attached.")
    async with connected(user) as tab:
        await run_turn(tab, "anything?", cid)
    assert "<document" not in system_prompt(model.requests[0])


async def test_another_persons_documents_and_conversations_answer_404(user, other_user):
    _, cid, (doc,) = await conversation_with(user, ("mine.txt", b"private"))
    _, their_cid, (their_doc,) = await conversation_with(other_user, ("theirs.txt", b"theirs"))
    client = await bearer_client(other_user)
    assert_problem(await client.get(f"{API}/conversations/{cid}/documents"), 404)
    assert_problem(await patch(client, f"/conversations/{cid}/documents", {"mode": "research"}), 404)
    assert_problem(await client.delete(f"{API}/conversations/{cid}/documents/{doc}"), 404)
    assert_problem(await post(client, f"/conversations/{cid}/documents", {"document_ids": [their_doc]}), 404)
    # Their own conversation, with my document: still 404, and nothing attached.
    assert_problem(await post(client, f"/conversations/{their_cid}/documents", {"document_ids": [doc]}), 404)
    listed = (await client.get(f"{API}/conversations/{their_cid}/documents")).json()["documents"]
    assert [d["id"] for d in listed] == [their_doc]
    mine = await client_of(user)
    assert (await mine.get(f"{API}/conversations/{cid}/documents")).json()["document_mode"] == "quote"


async def test_a_conversation_holds_at_most_the_configured_number_of_documents(user, settings):
    settings.DOCUMENTS_PER_CONVERSATION = 2
    client, cid, _ = await conversation_with(user, ("a.txt", b"a"), ("b.txt", b"b"))
    extra = await uploaded(client, "c.txt", b"c")
    problem = assert_problem(await post(client, f"/conversations/{cid}/documents", {"document_ids": [extra]}), 422)
    assert problem["code"] == "too_many_documents"
    assert len((await client.get(f"{API}/conversations/{cid}/documents")).json()["documents"]) == 2
    assert await database_sync_to_async(Document.objects.count)() == 3
