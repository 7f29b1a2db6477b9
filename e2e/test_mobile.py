"""On a phone (390×844, touch): nothing scrolls sideways, every control is in reach, and the sidebar
opens and closes behind its "Conversations" button (aria-expanded, Escape, focus)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.phone import PHONE, sideways_overflow, unreachable_controls
from e2e.pages.sidebar import Sidebar, conversation_of
from tests.support.fake_llm_server import text_reply

# What makes a page wide: an unbroken word, a long code line, a table.
WIDE_REPLY = (
    "See https://example.com/a/very/long/path/that/does/not/break/anywhere/at/all/0123456789abcdef0123456789 now.\n\n"
    "```python\nprint('a code line far wider than any phone screen is, and then some more of it, and more')\n```\n\n"
    "| column one | column two | column three | column four | column five |\n|---|---|---|---|---|\n"
    "| a fairly long cell | another long cell | and another | still more | the last |\n"
)


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Every page of this module is a phone's."""
    return {**browser_context_args, **PHONE}


@pytest.fixture
def phone(chat: ChatPage) -> ChatPage:
    """A logged-in person ("alice") on the chat page of a phone, connected."""
    return chat


def toggle_of(chat: ChatPage) -> Any:
    return chat.page.get_by_role("button", name="Conversations", exact=True)


def test_nothing_scrolls_sideways_and_every_control_is_in_reach_with_the_sidebar_closed_and_open(
    phone: ChatPage, fake_llm
) -> None:
    for n in range(3):
        conversation_of(phone.user, f"A conversation with a rather long title, number {n}", "hello")
    fake_llm.script(text_reply(WIDE_REPLY))
    phone.open()
    phone.composer.tap()
    phone.composer.fill("Show me something wide")
    phone.send_button.tap()
    expect(phone.last_assistant().get_by_role("table")).to_be_visible()
    phone.expect_reply_done()

    assert sideways_overflow(phone.page) == 0, "the page scrolls sideways with the sidebar closed"
    names, problems = unreachable_controls(phone.page)
    assert not problems, "controls out of reach with the sidebar closed:\n" + "\n".join(problems)
    assert {"Conversations", "Log out", "Send", "Export Markdown"} <= set(names), names
    message_box = phone.composer.bounding_box()
    assert message_box is not None and message_box["width"] >= 0.8 * PHONE["viewport"]["width"], (
        f"the message box is squeezed to {message_box} beside the composer's buttons"
    )

    toggle_of(phone).tap()
    expect(Sidebar(phone.page).nav).to_be_visible()
    assert sideways_overflow(phone.page) == 0, "the page scrolls sideways with the sidebar open"
    names, problems = unreachable_controls(phone.page)
    assert not problems, "controls out of reach with the sidebar open:\n" + "\n".join(problems)
    assert {"New chat", "Rename", "Delete", "Send"} <= set(names), names


def test_the_sidebar_opens_and_closes_with_its_button_and_escape_and_focus_follows(phone: ChatPage) -> None:
    conversation_id = conversation_of(phone.user, "Trip to Lisbon", "hello")
    phone.open()
    page, toggle, sidebar = phone.page, toggle_of(phone), Sidebar(phone.page)
    expect(toggle).to_have_attribute("aria-controls", "sidebar")
    expect(page.locator("#sidebar")).to_have_attribute("aria-label", "Conversations")

    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(sidebar.nav).to_be_hidden()
    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar.nav).to_be_visible()
    expect(sidebar.nav.get_by_role("link", name="New chat")).to_be_focused()
    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(sidebar.nav).to_be_hidden()

    toggle.tap()
    sidebar.search_box.fill("Lisbon")
    sidebar.search_box.press("Escape")  # the first Escape clears the search, the sidebar stays
    expect(sidebar.search_box).to_have_value("")
    expect(sidebar.nav).to_be_visible()
    sidebar.search_box.press("Escape")
    expect(sidebar.nav).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()

    toggle.tap()
    sidebar.links.filter(has_text="Trip to Lisbon").tap()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))
    expect(phone.body(phone.by_role("user"))).to_have_text(["hello"])
    expect(sidebar.nav).to_be_hidden()


def test_on_a_wide_screen_the_sidebar_is_always_shown_and_has_no_toggle(phone: ChatPage) -> None:
    expect(Sidebar(phone.page).nav).to_be_hidden()
    phone.page.set_viewport_size({"width": 1280, "height": 800})
    expect(Sidebar(phone.page).nav).to_be_visible()
    expect(toggle_of(phone)).to_be_hidden()
