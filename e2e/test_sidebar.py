"""The sidebar: conversations are listed, a new one can be started, an old one reopens with its history."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply


def test_conversations_are_listed_new_ones_start_and_old_ones_reopen_after_a_reload(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Paris ", "in spring."), text_reply("Use ", "a stack."))
    expect(chat.conversation_links).to_have_count(0)

    chat.send("Plan a trip")
    expect(chat.body(chat.last_assistant())).to_have_text("Paris in spring.")
    chat.expect_reply_done()
    expect(chat.conversation_links).to_have_count(1)
    first = chat.conversation_links.first
    expect(first).to_have_text(re.compile("Plan a trip"))
    expect(first).to_have_attribute("aria-current", "page")
    first_url = chat.page.url

    chat.new_chat.click()
    expect(chat.page).to_have_url(re.compile(r"/$"))
    chat.expect_connected()
    expect(chat.messages).to_have_count(0)
    chat.send("Balance parentheses")
    expect(chat.body(chat.last_assistant())).to_have_text("Use a stack.")
    chat.expect_reply_done()
    expect(chat.conversation_links).to_have_count(2)
    expect(chat.conversation_links.first).to_have_text(re.compile("Balance parentheses"))

    chat.conversation_links.filter(has_text="Plan a trip").click()
    expect(chat.page).to_have_url(first_url)
    chat.page.reload()
    chat.expect_connected()

    expect(chat.messages).to_have_count(2)
    expect(chat.body(chat.by_role("user"))).to_have_text("Plan a trip")
    expect(chat.body(chat.by_role("assistant"))).to_have_text("Paris in spring.")
    expect(chat.page.get_by_text("Balance parentheses", exact=True)).to_have_count(1)  # only in the sidebar
    expect(chat.conversation_links.filter(has_text="Plan a trip")).to_have_attribute("aria-current", "page")
