"""Rename in place and delete after a confirmation: every tab of the person follows, and the URL then answers 404."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from chat.models import Conversation
from e2e.pages.chat_page import ChatPage
from e2e.pages.sidebar import Sidebar, conversation_of


def test_a_rename_is_saved_with_enter_cancelled_with_escape_and_shown_in_every_tab(chat: ChatPage) -> None:
    cid = conversation_of(chat.user, "Plans", "where shall we go?")
    chat.open(cid)
    other = ChatPage(chat.page.context.new_page()).open(cid)
    sidebar, other_sidebar = Sidebar(chat.page), Sidebar(other.page)
    expect(other.page).to_have_title("Plans · Chat")

    sidebar.rename("Plans", "Never saved", key="Escape")
    expect(sidebar.links).to_have_text(["Plans"])

    sidebar.rename("Plans", "  Trip   to Lyon ")
    expect(sidebar.links).to_have_text(["Trip to Lyon"])
    expect(other_sidebar.links).to_have_text(["Trip to Lyon"])
    expect(other.page).to_have_title("Trip to Lyon · Chat")
    expect(chat.page).to_have_title("Trip to Lyon · Chat")
    assert Conversation.objects.get(pk=cid).title == "Trip to Lyon"

    chat.page.reload()
    chat.expect_connected()
    expect(sidebar.links).to_have_text(["Trip to Lyon"])


def test_a_deleted_conversation_leaves_its_open_tabs_and_its_url_is_not_found(chat: ChatPage) -> None:
    cid = conversation_of(chat.user, "Old plans", "forget this")
    keep = conversation_of(chat.user, "Keep me", "stays")
    chat.open(keep)
    showing = ChatPage(chat.page.context.new_page()).open(cid)
    sidebar = Sidebar(chat.page)

    confirm = sidebar.confirm_delete("Old plans")
    confirm.get_by_role("button", name="No").click()
    expect(confirm).to_have_count(0)
    expect(sidebar.links).to_have_text(["Keep me", "Old plans"])

    sidebar.confirm_delete("Old plans").get_by_role("button", name="Yes").click()

    expect(sidebar.links).to_have_text(["Keep me"])
    expect(showing.page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    expect(showing.page.get_by_role("alert")).to_have_text("This conversation was deleted.")
    expect(Sidebar(showing.page).links).to_have_text(["Keep me"])
    assert not Conversation.objects.filter(pk=cid).exists()
    response = chat.page.goto(f"/c/{cid}/")
    assert response is not None and response.status == 404


def test_a_conversation_with_a_reply_being_written_is_not_deleted_and_the_page_says_why(chat: ChatPage) -> None:
    from datetime import timedelta

    from django.utils import timezone

    cid = conversation_of(chat.user, "Busy one", "hi")
    Conversation.objects.filter(pk=cid).update(turn_token="elsewhere", turn_lease_until=timezone.now() + timedelta(minutes=5))
    chat.open()
    sidebar = Sidebar(chat.page)
    expect(sidebar.item("Busy one").get_by_text("writing…")).to_be_visible()

    sidebar.confirm_delete("Busy one").get_by_role("button", name="Yes").click()

    expect(chat.page.get_by_role("alert")).to_contain_text("stop it first")
    expect(sidebar.links).to_have_text(["Busy one"])
    Conversation.objects.filter(pk=cid).update(turn_token="", turn_lease_until=None)


def test_a_long_title_is_cut_short_and_its_buttons_stay_inside_the_sidebar(chat: ChatPage) -> None:
    conversation_of(chat.user, "A very long title that goes on and on about a trip to Lyon and back", "hi")
    chat.page.reload()
    chat.expect_connected()
    sidebar = Sidebar(chat.page)
    item = sidebar.item("A very long title that goes on and on about a trip to Lyon and back")
    edge = sidebar.nav.evaluate("nav => nav.getBoundingClientRect().right")
    for name in ("Rename", "Delete"):
        box = item.get_by_role("button", name=name).bounding_box()
        assert box is not None and box["x"] + box["width"] <= edge, f"{name} sticks out of the sidebar: {box}, edge {edge}"
    assert sidebar.nav.evaluate("nav => nav.scrollWidth <= nav.clientWidth"), "the sidebar scrolls sideways"
