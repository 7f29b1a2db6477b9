"""A conversation whose reply is still being written is marked in the sidebar of every tab, live and on load."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.sidebar import Sidebar, conversation_of
from tests.support.fake_llm_server import Hold, text_reply


def test_the_writing_mark_shows_while_a_reply_is_written_in_every_tab_and_after_a_reload(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Hel", Hold("middle"), "lo."))
    cid = conversation_of(chat.user, "Plans", "hi")
    chat.open(cid)
    elsewhere = ChatPage(chat.page.context.new_page()).open()
    mark_here = Sidebar(chat.page).item("Plans").get_by_text("writing…")
    mark_there = Sidebar(elsewhere.page).item("Plans").get_by_text("writing…")
    expect(mark_there).to_be_hidden()

    chat.send("and then?")
    fake_llm.wait_until_held("middle")
    expect(mark_here).to_be_visible()
    expect(mark_there).to_be_visible()
    elsewhere.page.reload()
    elsewhere.expect_connected()
    expect(mark_there).to_be_visible()  # server-rendered from the turn's lease

    fake_llm.release("middle")
    expect(chat.body(chat.last_assistant())).to_have_text("Hello.")
    expect(mark_here).to_be_hidden()
    expect(mark_there).to_be_hidden()
