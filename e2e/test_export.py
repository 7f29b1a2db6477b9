"""Export: the page's links download the conversation as Markdown and JSON, matching what the database holds."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

from playwright.sync_api import expect

from chat.models import Conversation
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply
from tests.support.stored import stored_rows


def download(chat: ChatPage, name: str) -> tuple[str, str]:
    with chat.page.expect_download() as info:
        chat.page.get_by_role("group", name="Export this conversation").get_by_role("link", name=name).click()
    return info.value.suggested_filename, Path(info.value.path()).read_text(encoding="utf-8")


def test_a_new_conversation_downloads_as_json_and_markdown_matching_the_database(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "6*7"}, call_id="call_calc"),
        text_reply("It is **42**."),
    )
    expect(chat.page.get_by_role("group", name="Export this conversation")).to_be_hidden()  # nothing to export yet
    chat.send("what is 6*7?")
    chat.expect_reply_done()
    conversation_id = chat.conversation_id_from_url()

    filename, body = download(chat, "Export JSON")

    assert filename == f"conversation-{conversation_id}-what-is-67.json"
    data = json.loads(body)
    rows = stored_rows(conversation_id)
    assert [(m["seq"], m["role"], m["status"], m["content"], m["created_at"]) for m in data["messages"]] == [
        (r.seq, r.role, r.status, r.content, r.created_at.astimezone(UTC).isoformat()) for r in rows
    ]
    assert data["messages"][2]["tool_call"]["result"] == rows[2].content == "42"
    assert data["conversation"]["title"] == Conversation.objects.get(pk=conversation_id).title

    filename, text = download(chat, "Export Markdown")

    assert filename.endswith(".md")
    assert text.startswith(f"# {data['conversation']['title']}\n")
    for row in rows:
        assert row.content in text
    assert "## Tool: Calculator (`builtin__calculator`)" in text


def test_an_opened_conversation_offers_its_export_after_a_reload(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Paris."))
    chat.send("capital of France?")
    chat.expect_reply_done()
    chat.page.reload()
    chat.expect_connected()

    _, text = download(chat, "Export Markdown")

    assert "capital of France?" in text and "Paris." in text
