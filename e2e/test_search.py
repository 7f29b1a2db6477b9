"""Search in the sidebar: titles and message text, any case, the match marked; Escape brings the list back."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.sidebar import Sidebar, conversation_of


def test_a_search_finds_message_text_marks_the_match_and_escape_clears_it(chat: ChatPage, make_user) -> None:
    conversation_of(chat.user, "Holiday", "We could take the night TRAIN to Vienna")
    conversation_of(chat.user, "Cooking", "pasta with <b>basil</b>")
    conversation_of(make_user("bob"), "Bob's trains", "a train to Rome")
    chat.open()
    sidebar = Sidebar(chat.page)

    sidebar.search("train")

    expect(sidebar.results.get_by_role("link")).to_have_text(["Holiday"])
    expect(sidebar.conversations).to_be_hidden()
    result = sidebar.results.get_by_role("listitem")
    expect(result).to_contain_text("night TRAIN to Vienna")
    expect(result.get_by_role("mark")).to_have_text(["TRAIN"])

    sidebar.search("<b>BASIL")
    expect(sidebar.results.get_by_role("link")).to_have_text(["Cooking"])
    expect(sidebar.results.get_by_role("mark")).to_have_text(["<b>basil"])  # text, never markup

    sidebar.search("rome")
    expect(sidebar.results.get_by_role("listitem")).to_have_count(0)
    expect(chat.page.get_by_role("status").filter(has_text="Nothing found.")).to_be_visible()

    sidebar.search_box.press("Escape")
    expect(sidebar.search_box).to_have_value("")
    expect(sidebar.results).to_be_hidden()
    expect(sidebar.links).to_have_text(["Cooking", "Holiday"])
