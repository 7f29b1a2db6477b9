"""A tool marked `confirm` waits for the person: Allow runs it, Deny tells the model it was declined."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply


def test_allowing_a_confirmed_tool_runs_it(chat: ChatPage, fake_llm, live_stack) -> None:
    fake_llm.script(
        tool_call_reply("testing__delete_file", {"path": "/tmp/old.log"}, call_id="call_del"),
        text_reply("Deleted."),
    )
    chat.send("Delete /tmp/old.log")
    card = chat.tool_card("testing__delete_file")
    expect(card).to_have_attribute("data-state", "confirming")
    assert live_stack.mcp_calls() == [], "the tool ran before the person allowed it"

    card.get_by_role("button", name="Allow").click()

    expect(card).to_have_attribute("data-state", "done")
    expect(card.get_by_text("deleted /tmp/old.log")).to_be_visible()
    expect(card.get_by_role("button", name="Allow")).to_have_count(0)
    expect(chat.body(chat.last_assistant())).to_have_text("Deleted.")
    assert live_stack.mcp_calls() == [("delete_file", {"path": "/tmp/old.log"})]


def test_denying_a_confirmed_tool_shows_it_declined_and_never_runs_it(chat: ChatPage, fake_llm, live_stack) -> None:
    fake_llm.script(
        tool_call_reply("testing__delete_file", {"path": "/etc/passwd"}, call_id="call_del"),
        text_reply("Understood, ", "I left it alone."),
    )
    chat.send("Delete /etc/passwd")
    card = chat.tool_card("testing__delete_file")

    card.get_by_role("button", name="Deny").click()

    expect(card).to_have_attribute("data-state", "error")
    expect(card.get_by_text("declined")).to_have_count(2)  # the state label and the result the model got
    expect(chat.body(chat.last_assistant())).to_have_text("Understood, I left it alone.")
    assert live_stack.mcp_calls() == []
    tool_result = fake_llm.wait_for_requests(2)[1].messages[-1]
    assert tool_result["role"] == "tool" and "declined" in tool_result["content"]
