"""A long conversation opens at its newest messages and brings older ones in as the person scrolls up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.slow_socket import receive_slowly
from tests.support.stored import store_line


@pytest.mark.parametrize("line", ["fast", "slow"])
def test_scrolling_up_loads_older_messages_in_order_above_the_newest(chat: ChatPage, line: str) -> None:
    """Opening shows the newest 200 and fetches nothing older until the person scrolls up, on any line.

    On a slow line the page paints while the newest page is still arriving; those paints must not
    count as the person scrolling to the top.
    """
    if line == "slow":
        receive_slowly(chat.page)
    conversation = services.conversation_create(owner=chat.user, first_text="a long one")
    store_line(conversation, [
        Message(conversation=conversation, seq=n, role="user" if n % 2 else "assistant", content=f"line {n}")
        for n in range(1, 251)
    ])
    chat.open(conversation.pk)

    expect(chat.messages.last).to_have_text("Assistant line 250", use_inner_text=True)
    expect(chat.messages).to_have_count(200)
    expect(chat.messages.first).to_have_attribute("data-seq", "51")

    chat.log.evaluate("log => { log.scrollTop = 0; }")  # the person scrolls to the top

    expect(chat.messages).to_have_count(250)
    expect(chat.messages.first).to_have_attribute("data-seq", "1")
    expect(chat.messages.first).to_contain_text("line 1")
    expect(chat.page.get_by_role("button", name="Load earlier messages")).to_be_hidden()
    seqs = chat.messages.evaluate_all("nodes => nodes.map(n => Number(n.dataset.seq))")
    assert seqs == list(range(1, 251))
