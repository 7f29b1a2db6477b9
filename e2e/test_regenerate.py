"""Regenerate the last reply: the earlier reply stays as a version, a `1/2` switcher moves between them,
and what is shown survives a reload, on the page and in the database (`Message.shown`)."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply
from tests.support.stored import stored_rows


def shown(conversation_id: int) -> list[str]:
    return [m.content for m in stored_rows(conversation_id) if m.shown]


def test_a_regenerated_reply_keeps_the_earlier_one_switchable_and_both_survive_a_reload(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Blue, like the sea."), text_reply("Green, like grass."))
    chat.send("Name a colour")
    chat.expect_reply_done()
    reply = chat.last_assistant()
    expect(reply.get_by_test_id("versions")).to_have_count(0)  # one version: no switcher

    reply.get_by_role("button", name="Regenerate reply").click()
    expect(chat.body(chat.last_assistant())).to_have_text("Green, like grass.")
    chat.expect_reply_done()
    expect(chat.assistant_replies()).to_have_count(1)  # the new version replaces the old one on the page
    versions = chat.last_assistant().get_by_test_id("versions")
    expect(versions).to_have_attribute("aria-label", "Version 2 of 2")
    cid = chat.conversation_id_from_url()
    assert [(m.seq, m.content, m.shown) for m in stored_rows(cid)] == [
        (1, "Name a colour", True), (2, "Blue, like the sea.", False), (3, "Green, like grass.", True),
    ]
    assert [m["content"] for m in fake_llm.requests[1].messages if m["role"] != "system"] == ["Name a colour"]

    chat.last_assistant().get_by_role("button", name="Previous version").click()
    expect(chat.body(chat.last_assistant())).to_have_text("Blue, like the sea.")
    expect(chat.last_assistant().get_by_test_id("versions")).to_have_attribute("aria-label", "Version 1 of 2")
    expect(chat.last_assistant().get_by_role("button", name="Previous version")).to_be_disabled()
    expect(chat.assistant_replies()).to_have_count(1)
    assert shown(cid) == ["Name a colour", "Blue, like the sea."]

    chat.page.reload()
    chat.expect_connected()
    expect(chat.body(chat.last_assistant())).to_have_text("Blue, like the sea.")
    expect(chat.last_assistant().get_by_test_id("versions")).to_have_attribute("aria-label", "Version 1 of 2")
    chat.last_assistant().get_by_role("button", name="Next version").click()
    expect(chat.body(chat.last_assistant())).to_have_text("Green, like grass.")
    assert shown(cid) == ["Name a colour", "Green, like grass."]


def test_only_the_last_reply_offers_regenerate_and_not_while_one_is_written(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("One."), text_reply("Two."))
    chat.send("first")
    chat.expect_reply_done()
    chat.send("second")
    chat.expect_reply_done()
    regenerate = chat.page.get_by_role("button", name="Regenerate reply")
    expect(regenerate).to_have_count(1)
    expect(chat.last_assistant().get_by_role("button", name="Regenerate reply")).to_be_visible()
    chat.page.reload()  # a conversation opened from its history offers it too
    chat.expect_connected()
    expect(chat.body(chat.last_assistant())).to_have_text("Two.")
    expect(regenerate).to_have_count(1)
    expect(chat.last_assistant().get_by_role("button", name="Regenerate reply")).to_be_visible()


def test_the_switcher_of_a_reply_that_starts_with_a_tool_call_is_shown_and_switches(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "6*7"}, call_id="call_a"), text_reply("It is 42."),
        tool_call_reply("builtin__calculator", {"expression": "7*6"}, call_id="call_b"), text_reply("Still 42."),
    )
    chat.send("6 times 7?")
    expect(chat.body(chat.last_assistant())).to_have_text("It is 42.")
    chat.expect_reply_done()
    chat.last_assistant().get_by_role("button", name="Regenerate reply").click()
    expect(chat.body(chat.last_assistant())).to_have_text("Still 42.")
    chat.expect_reply_done()
    expect(chat.tool_cards).to_have_count(1)

    switcher = chat.page.get_by_role("group", name="Version 2 of 2")  # on the reply's first, tool-calling message
    expect(switcher).to_be_visible()
    switcher.get_by_role("button", name="Previous version").click()
    expect(chat.body(chat.last_assistant())).to_have_text("It is 42.")
    expect(chat.page.get_by_role("group", name="Version 1 of 2")).to_be_visible()
    expect(chat.tool_cards).to_have_count(1)
    expect(chat.tool_cards.first).to_contain_text("6*7")
