"""The composer: Enter sends, Shift+Enter adds a line, and an empty message cannot be sent."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply


def test_send_is_disabled_until_there_is_something_to_send(chat: ChatPage) -> None:
    expect(chat.send_button).to_be_disabled()
    chat.composer.fill("   \n  ")
    expect(chat.send_button).to_be_disabled()
    chat.composer.press("Enter")
    expect(chat.messages).to_have_count(0)
    chat.composer.fill("hello")
    expect(chat.send_button).to_be_enabled()


def test_shift_enter_adds_a_line_and_enter_sends_the_whole_message(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Two lines received."))
    chat.composer.fill("first line")
    chat.composer.press("Shift+Enter")
    chat.composer.press_sequentially("second line")
    expect(chat.composer).to_have_value("first line\nsecond line")
    expect(chat.messages).to_have_count(0)

    chat.composer.press("Enter")

    expect(chat.composer).to_have_value("")
    sent = chat.by_role("user")
    expect(sent).to_have_attribute("data-status", "complete")
    assert chat.body(sent).inner_text() == "first line\nsecond line"
    expect(chat.body(chat.last_assistant())).to_have_text("Two lines received.")
    assert Message.objects.get(role="user").content == "first line\nsecond line"


def test_the_send_button_sends_too_and_the_page_names_the_model(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Clicked."))
    expect(chat.page.get_by_text("fake (fake-model)")).to_be_visible()
    expect(chat.page.get_by_text("offline demo")).to_have_count(0)
    chat.composer.fill("by button")
    chat.send_button.click()
    expect(chat.body(chat.last_assistant())).to_have_text("Clicked.")
