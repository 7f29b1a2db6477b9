"""Edit a message and send it again: what followed it becomes an earlier branch, kept and switchable with
the message's `1/2` switcher, never deleted; the model is sent the branch shown, and a reload keeps it."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply
from tests.support.stored import hold_lease, stored_rows


def test_an_edited_message_starts_a_branch_the_old_one_is_kept_and_switchable_after_a_reload(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Four."), text_reply("Six."), text_reply("Ten."))
    chat.send("What is 2+2?")
    chat.expect_reply_done()
    chat.send("And 3+3?")
    chat.expect_reply_done()

    question = chat.by_role("user").last
    question.get_by_role("button", name="Edit message").click()
    editor = question.get_by_role("textbox", name="Edited message")
    expect(editor).to_have_value("And 3+3?")
    editor.fill("And 5+5?")
    editor.press("Enter")
    expect(chat.body(chat.last_assistant())).to_have_text("Ten.")
    chat.expect_reply_done()
    expect(chat.messages.locator(".message-body")).to_have_text(["What is 2+2?", "Four.", "And 5+5?", "Ten."])
    expect(chat.by_role("user").last.get_by_test_id("versions")).to_have_attribute("aria-label", "Version 2 of 2")
    sent = [(m["role"], m["content"]) for m in fake_llm.requests[2].messages if m["role"] != "system"]
    assert sent == [("user", "What is 2+2?"), ("assistant", "Four."), ("user", "And 5+5?")]
    cid = chat.conversation_id_from_url()
    rows = stored_rows(cid)
    assert [(m.content, m.shown) for m in rows] == [
        ("What is 2+2?", True), ("Four.", True), ("And 3+3?", False), ("Six.", False), ("And 5+5?", True), ("Ten.", True),
    ]
    assert rows[2].parent_id == rows[4].parent_id == rows[1].pk  # both versions follow the same reply

    chat.by_role("user").last.get_by_role("button", name="Previous version").click()
    expect(chat.messages.locator(".message-body")).to_have_text(["What is 2+2?", "Four.", "And 3+3?", "Six."])
    chat.page.reload()
    chat.expect_connected()
    expect(chat.messages.locator(".message-body")).to_have_text(["What is 2+2?", "Four.", "And 3+3?", "Six."])
    expect(chat.by_role("user").last.get_by_test_id("versions")).to_have_attribute("aria-label", "Version 1 of 2")


def test_escape_cancels_an_edit_and_sends_nothing(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Hello."))
    chat.send("Hi")
    chat.expect_reply_done()
    question = chat.by_role("user").last
    question.get_by_role("button", name="Edit message").click()
    editor = question.get_by_role("textbox", name="Edited message")
    editor.fill("Something else")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(chat.body(question)).to_have_text("Hi")
    expect(question.get_by_role("button", name="Edit message")).to_be_focused()
    assert [m.content for m in stored_rows(chat.conversation_id_from_url())] == ["Hi", "Hello."]
    assert len(fake_llm.requests) == 1


def test_an_edit_refused_keeps_its_text_in_the_editor_and_says_why(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Hello."), text_reply("Bonjour."))
    chat.send("Hi")
    chat.expect_reply_done()
    cid = chat.conversation_id_from_url()
    hold_lease(cid)  # a reply is being written elsewhere (another process, another device)
    question = chat.by_role("user").last
    question.get_by_role("button", name="Edit message").click()
    editor = question.get_by_role("textbox", name="Edited message")
    editor.fill("Hi, in French")
    editor.press("Enter")
    expect(question.get_by_role("alert")).to_contain_text("Not sent: A reply is still being written")
    expect(editor).to_have_value("Hi, in French")
    assert [m.content for m in stored_rows(cid)] == ["Hi", "Hello."]

    hold_lease(cid, token="")
    editor.press("Enter")
    expect(chat.messages.locator(".message-body")).to_have_text(["Hi, in French", "Bonjour."])
    chat.expect_reply_done()
