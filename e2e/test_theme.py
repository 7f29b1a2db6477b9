"""Theme: dark mode follows the system preference until the person chooses, and the choice is remembered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from e2e.pages.chat_page import ChatPage

DARK_BACKGROUND = "rgb(15, 18, 24)"
LIGHT_BACKGROUND = "rgb(246, 247, 249)"


def open_chat(logged_in_context: Callable[..., Any], make_user: Callable[..., Any], **options: Any) -> ChatPage:
    return ChatPage(logged_in_context(make_user("alice"), **options).new_page()).open()


def expect_background(page: Page, colour: str) -> None:
    expect(page.locator("html")).to_have_css("background-color", colour)


def test_a_dark_system_gets_the_dark_theme_and_the_toggle_is_remembered(logged_in_context, make_user) -> None:
    chat = open_chat(logged_in_context, make_user, color_scheme="dark")
    toggle = chat.page.get_by_role("button", name="Dark mode")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(chat.page.locator("html")).to_have_attribute("data-theme", "dark")
    expect_background(chat.page, DARK_BACKGROUND)

    toggle.click()

    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(chat.page.locator("html")).to_have_attribute("data-theme", "light")
    expect_background(chat.page, LIGHT_BACKGROUND)
    chat.page.reload()
    chat.expect_connected()
    expect(toggle).to_have_attribute("aria-pressed", "false")  # the choice outlives the reload, against the system
    expect(chat.page.locator("html")).to_have_attribute("data-theme", "light")
    expect_background(chat.page, LIGHT_BACKGROUND)


def test_without_a_choice_the_page_follows_the_system_as_it_changes(logged_in_context, make_user) -> None:
    chat = open_chat(logged_in_context, make_user, color_scheme="light")
    toggle = chat.page.get_by_role("button", name="Dark mode")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect_background(chat.page, LIGHT_BACKGROUND)

    chat.page.emulate_media(color_scheme="dark")

    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(chat.page.locator("html")).to_have_attribute("data-theme", "dark")
    expect_background(chat.page, DARK_BACKGROUND)
