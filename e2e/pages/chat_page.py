"""The chat page: sidebar, message list, composer, tool cards, connection status, by role, label and text."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect


class ChatPage:
    user: Any = None

    def __init__(self, page: Page) -> None:
        self.page = page
        self.composer: Locator = page.get_by_label("Message", exact=True)
        self.send_button: Locator = page.get_by_role("button", name="Send")
        self.stop_button: Locator = page.get_by_role("button", name="Stop")
        self.connection: Locator = page.get_by_role("status")
        self.sidebar: Locator = page.get_by_role("navigation", name="Conversations")
        self.conversation_links: Locator = self.sidebar.get_by_role("list").get_by_role("link")
        self.new_chat: Locator = self.sidebar.get_by_role("link", name="New chat")
        self.log: Locator = page.get_by_role("log", name="Messages")
        self.messages: Locator = page.get_by_test_id("message")
        self.tool_cards: Locator = page.get_by_test_id("tool-card")
        self.logout_button: Locator = page.get_by_role("button", name="Log out")
        self.picker: Locator = page.get_by_role("group", name="Who answers")
        self.rounds: Locator = page.get_by_label("Rounds")
        self.typing: Locator = page.locator("#typing")
        self.participants: Locator = page.get_by_test_id("participant")

    def open(self, conversation_id: int | None = None) -> ChatPage:
        self.page.goto(f"/c/{conversation_id}/" if conversation_id else "/")
        self.expect_connected()
        return self

    def expect_connected(self) -> None:
        expect(self.connection).to_have_text("Connected")

    def send(self, text: str) -> None:
        """Type a message and press Enter, the way a person sends."""
        self.composer.fill(text)
        expect(self.send_button).to_be_enabled()
        self.composer.press("Enter")

    def choose_participants(self, *names: str, rounds: int = 1) -> None:
        """On a new chat: tick these personas (they answer in the page's order) and set the rounds."""
        for name in names:
            self.picker.get_by_label(name, exact=True).check()
        if rounds != 1:
            self.rounds.fill(str(rounds))

    def replies_by(self, name: str) -> Locator:
        return self.page.locator(f'[data-testid="message"][data-role="assistant"][data-participant="{name}"]')

    def author(self, message: Locator) -> Locator:
        return message.locator(".message-author")

    def by_role(self, role: str) -> Locator:
        return self.page.locator(f'[data-testid="message"][data-role="{role}"]')

    def assistant_replies(self) -> Locator:
        return self.by_role("assistant").filter(has=self.page.locator(".message-body:not(:empty)"))

    def last_assistant(self) -> Locator:
        return self.by_role("assistant").last

    def body(self, message: Locator) -> Locator:
        return message.locator(".message-body")

    def code_block(self, within: Locator, language: str) -> Locator:
        """A code block: a header with its language and a copy button, then the code."""
        return within.get_by_role("group", name=f"{language} code")

    def tool_card(self, name: str) -> Locator:
        return self.tool_cards.filter(has_text=name)

    def expect_reply_done(self) -> None:
        """The turn is over: no Stop button, and the composer can send again."""
        expect(self.stop_button).to_be_hidden()

    def conversation_id_from_url(self) -> int:
        match = re.search(r"/c/(\d+)/$", self.page.url)
        assert match, f"expected a /c/<id>/ URL, got {self.page.url}"
        return int(match.group(1))
