"""The sidebar groups conversations under day headings by their last change, in the browser's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from playwright.sync_api import expect

from chat.models import Conversation
from e2e.pages.chat_page import ChatPage
from e2e.pages.sidebar import Sidebar, conversation_of
from tests.support.fake_llm_server import text_reply

START_OF_TODAY_JS = "() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); }"


def test_conversations_are_grouped_under_today_yesterday_previous_7_days_and_older(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Hello."))
    today = datetime.fromisoformat(chat.page.evaluate(START_OF_TODAY_JS))
    for title, when in (
        ("Last month", today - timedelta(days=30)),
        ("Four days ago", today - timedelta(days=3, hours=23)),
        ("Late yesterday", today - timedelta(hours=1)),
    ):
        Conversation.objects.filter(pk=conversation_of(chat.user, title, "hi")).update(updated_at=when)
    conversation_of(chat.user, "Just now", "hi")

    chat.page.reload()
    chat.expect_connected()
    sidebar = Sidebar(chat.page)

    expect(sidebar.headings).to_have_text(["Today", "Yesterday", "Previous 7 days", "Older"])
    expect(sidebar.links).to_have_text(["Just now", "Late yesterday", "Four days ago", "Last month"])
    heading_after = chat.page.evaluate(
        """() => Array.from(document.querySelectorAll('#conversation-list a')).map(
             (a) => { let li = a.closest('li').previousElementSibling;
                      while (li && !li.querySelector('h3')) li = li.previousElementSibling;
                      return li.textContent; })"""
    )
    assert heading_after == ["Today", "Yesterday", "Previous 7 days", "Older"]

    chat.send("a new one")
    expect(sidebar.links.first).to_have_text("a new one")
    expect(sidebar.headings).to_have_text(["Today", "Yesterday", "Previous 7 days", "Older"])
    chat.expect_reply_done()
