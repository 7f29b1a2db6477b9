"""The smoke test: log in through the form, ask for arithmetic, see the calculator's card, the reply and the stored rows."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.login_page import LoginPage
from tests.support.fake_llm_server import text_reply, tool_call_reply
from tests.support.stored import stored_rows


def test_asking_what_is_12_times_7_shows_the_calculator_card_and_the_reply(page: Page, make_user, fake_llm) -> None:
    make_user("alice", password="alice-password-1")
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "12*7"}, call_id="call_calc"),
        text_reply("12 × 7 is ", "**84**."),
    )
    LoginPage(page).open().log_in("alice", "alice-password-1")
    chat = ChatPage(page)
    chat.expect_connected()

    chat.send("what is 12*7")

    card = chat.tool_card("builtin__calculator")
    expect(card).to_contain_text("12*7")
    expect(card).to_contain_text("84")
    expect(chat.body(chat.last_assistant()).locator("strong")).to_have_text("84")
    chat.expect_reply_done()
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))

    stored = stored_rows(chat.conversation_id_from_url())
    assert [(m.seq, m.role) for m in stored] == [(1, "user"), (2, "assistant"), (3, "tool"), (4, "assistant")]
    assert stored[2].content == "84" and stored[2].tool_call_id == "call_calc"
    assert stored[3].content == "12 × 7 is **84**."
