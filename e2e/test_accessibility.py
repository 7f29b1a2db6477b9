"""axe-core finds no WCAG 2.1 A/AA violation on the login page or the chat page in any state a person meets.

States: the login page, an empty new chat with the persona picker, a reply streaming, a tool card, a
confirmation waiting, a failed reply, a sidebar with conversations, a conversation between two
personas, a phone-sized screen (its sidebar closed and open), and the dark theme. Known exceptions would be listed, with the
reason, in e2e/accessibility_known.json (it is empty): anything else fails, naming the rule and elements.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from chat import services
from e2e.pages.accessibility import new_violations
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import Hold, error_reply, text_reply, tool_call_reply


def assert_accessible(page: Page, state: str) -> None:
    found = new_violations(page)
    assert not found, f"accessibility violations with {state}:\n" + "\n".join(found)


def test_the_login_page_is_accessible(page: Page, live_stack) -> None:
    page.goto("/accounts/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert_accessible(page, "the login page")


def test_the_chat_page_is_accessible_empty_streaming_and_with_a_tool_card(chat: ChatPage, fake_llm) -> None:
    assert_accessible(chat.page, "an empty new chat")
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "6*7"}, call_id="call_calc"),
        text_reply("It is ", Hold("streaming"), "42."),
    )
    chat.send("What is 6*7?")
    fake_llm.wait_until_held("streaming")
    expect(chat.last_assistant()).to_have_attribute("data-status", "streaming")
    expect(chat.tool_cards).to_have_count(1)
    assert_accessible(chat.page, "a reply streaming after a tool card")
    fake_llm.release("streaming")
    chat.expect_reply_done()
    assert_accessible(chat.page, "a finished reply")


def test_the_chat_page_is_accessible_with_a_confirmation_waiting_and_a_failed_reply(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(tool_call_reply("testing__delete_file", {"path": "/tmp/x"}, call_id="call_del"))
    chat.send("Delete /tmp/x")
    card = chat.tool_cards.last
    expect(card).to_have_attribute("data-state", "confirming")
    assert_accessible(chat.page, "a confirmation waiting")
    fake_llm.script(error_reply(400, "The request was refused."))
    card.get_by_role("button", name="Deny").click()
    expect(chat.last_assistant()).to_have_attribute("data-status", "failed")
    assert_accessible(chat.page, "a failed reply")


def test_a_full_sidebar_two_personas_a_phone_and_the_dark_theme_are_accessible(chat: ChatPage, fake_llm) -> None:
    for n in range(6):
        services.conversation_create(owner=chat.user, title=f"Conversation number {n}")
    fake_llm.script(text_reply("I doubt it."), text_reply("Let me explain."))
    chat.open()
    chat.choose_participants("Skeptic", "Teacher")
    chat.send("Is it so?")
    chat.expect_reply_done()
    expect(chat.replies_by("Teacher")).to_have_count(1)
    assert_accessible(chat.page, "a sidebar of conversations and two personas' replies")
    chat.page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(chat.page, "a phone-sized screen")
    chat.page.get_by_role("button", name="Conversations", exact=True).click()
    expect(chat.sidebar).to_be_visible()
    assert_accessible(chat.page, "a phone-sized screen with the sidebar open")
    chat.page.emulate_media(color_scheme="dark")
    chat.page.reload()
    chat.expect_connected()
    expect(chat.replies_by("Teacher")).to_have_count(1)
    assert_accessible(chat.page, "the dark theme")


def test_the_personas_and_token_pages_are_accessible_with_and_without_errors(chat: ChatPage) -> None:
    page = chat.page
    page.goto("/personas/")
    assert_accessible(page, "the personas page")
    page.get_by_label("Name").fill("Skeptic")
    page.get_by_label("System prompt").fill("You are another one.")
    page.get_by_role("button", name="Create persona").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "the personas page showing an error")
    page.goto("/account/tokens/")
    assert_accessible(page, "the API tokens page")
