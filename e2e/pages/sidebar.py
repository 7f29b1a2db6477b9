"""The sidebar's conversations: rename, delete, search and day headings, by role, label and text."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Message


class Sidebar:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.nav: Locator = page.get_by_role("navigation", name="Conversations")
        self.conversations: Locator = self.nav.get_by_role("list", name="Conversations")
        self.links: Locator = self.conversations.get_by_role("link")
        self.headings: Locator = self.conversations.get_by_role("heading")
        self.search_box: Locator = page.get_by_role("searchbox", name="Search conversations")
        self.results: Locator = self.nav.get_by_role("list", name="Search results")

    def item(self, title: str) -> Locator:
        return self.conversations.get_by_role("listitem").filter(has=self.page.get_by_role("link", name=title, exact=True))

    def rename(self, title: str, new_title: str, key: str = "Enter") -> None:
        """Click Rename, type the new title and press Enter (save) or Escape (cancel)."""
        self.item(title).get_by_role("button", name="Rename").click()
        field = self.nav.get_by_role("textbox", name="New title")
        expect(field).to_be_focused()
        field.fill(new_title)
        field.press(key)
        expect(field).to_have_count(0)

    def confirm_delete(self, title: str) -> Locator:
        """Click Delete: the inline "Delete? Yes / No" group it shows."""
        self.item(title).get_by_role("button", name="Delete").click()
        return self.nav.get_by_role("group", name=f"Delete {title}?")

    def search(self, query: str) -> None:
        self.search_box.fill(query)


def conversation_of(owner: Any, title: str, *texts: str) -> int:
    """A stored conversation of owner's with these user messages (no reply is written)."""
    conversation = services.conversation_create(owner=owner, title=title)
    for text in texts:
        services.message_create(
            conversation_id=conversation.pk, role=Message.Role.USER, content=text, client_id=uuid.uuid4().hex
        )
    return conversation.pk
