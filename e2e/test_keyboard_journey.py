"""A person with only a keyboard: log in, send, stop, answer a confirmation, open another conversation, log out.

Every step is Tab, Shift+Tab, typing, Enter or Space, and wherever focus lands it is visible.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from chat import services
from e2e.pages.chat_page import ChatPage
from e2e.pages.keyboard import tab_to
from tests.support.fake_llm_server import Hold, text_reply, tool_call_reply
from tests.support.stored import stored_rows


def test_the_whole_journey_works_from_the_keyboard_with_focus_always_visible(page: Page, make_user, fake_llm) -> None:
    user = make_user("alice", password="alice-password-1")
    earlier = services.conversation_create(owner=user, title="An earlier chat")
    page.goto("/accounts/login/")
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type("alice")
    tab_to(page, page.get_by_label("Password"))
    page.keyboard.type("alice-password-1")
    page.keyboard.press("Enter")
    chat = ChatPage(page)
    chat.expect_connected()
    expect(chat.composer).to_be_focused()  # ready to type at once

    fake_llm.script(text_reply("Counting: ", "one, ", Hold("mid-reply"), "two."))
    page.keyboard.type("Count for me")
    page.keyboard.press("Enter")
    fake_llm.wait_until_held("mid-reply")
    tab_to(page, chat.stop_button)
    page.keyboard.press("Enter")
    expect(chat.last_assistant()).to_have_attribute("data-status", "stopped")
    chat.expect_reply_done()

    fake_llm.script(tool_call_reply("testing__delete_file", {"path": "/tmp/a"}, call_id="call_del"), text_reply("Done."))
    tab_to(page, chat.composer, backwards=True)
    page.keyboard.type("Delete /tmp/a")
    page.keyboard.press("Enter")
    card = chat.tool_cards.last
    expect(card).to_have_attribute("data-state", "confirming")
    tab_to(page, card.get_by_role("button", name="Allow"), backwards=True)  # the card is above the composer
    page.keyboard.press("Space")
    expect(card).to_have_attribute("data-state", "done")
    expect(chat.body(chat.last_assistant())).to_have_text("Done.")
    chat.expect_reply_done()  # the text shows before the reply is stored as complete
    conversation_id = chat.conversation_id_from_url()
    assert [(m.role, m.status) for m in stored_rows(conversation_id)] == [
        ("user", "complete"), ("assistant", "stopped"), ("user", "complete"), ("assistant", "complete"),
        ("tool", "complete"), ("assistant", "complete")]

    tab_to(page, chat.conversation_links.filter(has_text="An earlier chat"), backwards=True)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/c/{earlier.pk}/$"))
    chat.expect_connected()

    tab_to(page, chat.logout_button, backwards=True)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
