"""Documents in the browser: drop a PDF on the composer, see it listed, ask about it in research mode,
see the search card and a reply quoting the sentence; a refused file shows its error and stores nothing."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from chat.models import Conversation, Document, Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.documents import DocumentsBar
from tests.support.daphne import start_daphne
from tests.support.documents import PLANTED
from tests.support.fake_llm_server import text_reply
from tests.support.pdfs import filler_pages, pdf_bytes

REPORT = ("report.pdf", pdf_bytes(filler_pages(4, planted=PLANTED, on_page=3)), "application/pdf")
QUESTION = "How many gulls did the lighthouse keeper count?"


def test_a_dropped_pdf_is_searched_in_research_mode_and_the_reply_quotes_it(
    logged_in_context, make_user, live_stack, tmp_path: Path
) -> None:
    # The offline demo model searches with the real tool and quotes what the search found: nothing scripted.
    env = {**(live_stack.env or {}), "LLM_PROVIDERS": "", "DEMO_TOKEN_DELAY_SECONDS": "0"}
    page = logged_in_context(make_user("alice")).new_page()
    demo = start_daphne(env, tmp_path, name="demo-model")
    try:
        page.goto(demo.url + "/")
        chat, documents = ChatPage(page), DocumentsBar(page)
        chat.expect_connected()

        documents.drop_files(REPORT)
        cid = conversation_id(page)  # a conversation was started for it, and the page moved there
        chat.expect_connected()
        expect(documents.item("report.pdf")).to_contain_text("4 pages")
        expect(documents.mode_hint).to_contain_text("gets their text")
        documents.mode.select_option("research")
        expect(documents.mode_hint).to_contain_text("searches them")  # the server's answer, not the select's value
        assert Conversation.objects.get(pk=cid).document_mode == "research"

        chat.send(QUESTION)
        card = chat.tool_card("documents__search")
        expect(card).to_have_attribute("data-state", "done")
        expect(card).to_contain_text(PLANTED)
        expect(chat.body(chat.last_assistant())).to_contain_text(f'"{PLANTED}" (report.pdf, page 3)')
        chat.expect_reply_done()

        stored = list(Message.objects.filter(conversation_id=cid).order_by("seq"))
        assert [(m.role, m.status) for m in stored] == [
            ("user", "complete"), ("assistant", "complete"), ("tool", "complete"), ("assistant", "complete"),
        ]
        assert stored[2].tool_name == "documents__search" and PLANTED in stored[2].content
        assert f'"{PLANTED}" (report.pdf, page 3)' in stored[3].content

        page.reload()  # the conversation keeps its documents and its mode
        chat.expect_connected()
        expect(documents.item("report.pdf")).to_be_visible()
        expect(documents.mode).to_have_value("research")
        download = documents.item("report.pdf").get_by_role("link", name="report.pdf")
        with page.expect_download() as downloaded:
            download.click()
        assert Path(downloaded.value.path()).read_bytes() == REPORT[1]
    finally:
        demo.stop(grace=3)


def test_a_refused_file_shows_its_error_by_the_composer_and_stores_nothing(chat: ChatPage) -> None:
    documents = DocumentsBar(chat.page)
    documents.choose_files(("report.pdf", b"this is only text pretending to be a PDF", "application/pdf"))
    expect(documents.error).to_have_text("report.pdf: The file is named .pdf but its content is not a PDF.")
    expect(documents.attach_button).to_be_enabled()
    assert Document.objects.count() == 0 and Conversation.objects.count() == 0
    expect(documents.section).to_be_hidden()
    chat.expect_connected()  # the page and its socket go on


def test_a_document_attached_to_an_open_conversation_is_quoted_in_the_next_request(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Hello."), text_reply("The harbour opens at dawn (notes.md)."))
    chat.send("hi")
    chat.expect_reply_done()
    documents = DocumentsBar(chat.page)
    documents.choose_files(("notes.md", b"# Notes\n\nThe harbour opens at dawn.", "text/markdown"))
    expect(documents.item("notes.md")).to_be_visible()
    expect(documents.mode).to_have_value("quote")
    chat.send("When does the harbour open?")
    chat.expect_reply_done()
    system = fake_llm.wait_for_requests(2)[1].messages[0]["content"]
    assert '<document name="notes.md">' in system and "The harbour opens at dawn." in system
    # Detaching takes it out of the header and of the next request.
    documents.item("notes.md").get_by_role("button", name="Detach notes.md").click()
    expect(documents.section).to_be_hidden()
    assert not Conversation.objects.get(pk=chat.conversation_id_from_url()).documents.exists()


def conversation_id(page: Page) -> int:
    """The id of the conversation the page moved to (Playwright's bounded wait on the URL)."""
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_the_documents_page_deletes_a_document_and_its_conversation_no_longer_lists_it(chat: ChatPage, fake_llm) -> None:
    from e2e.test_accessibility import assert_accessible

    fake_llm.script(text_reply("Hello."))
    chat.send("hi")
    chat.expect_reply_done()
    documents = DocumentsBar(chat.page)
    documents.choose_files(("notes.md", b"# Notes\n\nThe harbour opens at dawn.", "text/markdown"))
    expect(documents.item("notes.md")).to_be_visible()
    assert_accessible(chat.page, "a conversation with a document attached")
    conversation = chat.conversation_id_from_url()

    chat.page.get_by_role("link", name="All your documents").click()
    row = chat.page.get_by_test_id("document-row").filter(has_text="notes.md")
    expect(row).to_contain_text("1 conversation")
    assert_accessible(chat.page, "the documents page")
    row.get_by_role("button", name="Delete notes.md").click()
    expect(chat.page.get_by_text("No documents yet.")).to_be_visible()
    assert not Document.objects.exists()

    chat.open(conversation)
    expect(chat.body(chat.last_assistant())).to_have_text("Hello.")
    expect(documents.section).to_be_hidden()
