"""A tool request end to end: the model asks for a tool on a test MCP server, the card shows it, the reply uses it."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply
from tests.support.stored import stored_rows


def test_a_tool_call_shows_its_card_and_the_reply_and_is_stored_in_order(chat: ChatPage, fake_llm, live_stack) -> None:
    fake_llm.script(
        tool_call_reply("testing__echo", {"text": "ping ", "times": 3}, call_id="call_echo", parts=4),
        text_reply("The server said ", "`ping ping ping`", "."),
    )

    chat.send("Echo ping three times")

    card = chat.tool_card("testing__echo")
    expect(card).to_have_attribute("data-state", "done")
    expect(card.get_by_text('"times": 3')).to_be_visible()
    expect(card.get_by_text("ping ping ping")).to_be_visible()
    reply = chat.body(chat.last_assistant())
    expect(reply.locator("code")).to_have_text("ping ping ping")
    chat.expect_reply_done()

    # The MCP server received exactly the arguments the model streamed in four fragments.
    assert live_stack.mcp_calls() == [("echo", {"text": "ping ", "times": 3})]
    # The model's second request carried the tool result, tied to its call id.
    second = fake_llm.wait_for_requests(2)[1]
    tool_message = second.messages[-1]
    assert (tool_message["role"], tool_message["tool_call_id"]) == ("tool", "call_echo")
    assert "ping ping ping" in tool_message["content"]

    stored = stored_rows(chat.conversation_id_from_url())
    assert [(m.seq, m.role, m.status) for m in stored] == [
        (1, "user", "complete"),
        (2, "assistant", "complete"),
        (3, "tool", "complete"),
        (4, "assistant", "complete"),
    ]
    assert stored[0].content == "Echo ping three times"
    assert stored[1].tool_calls == [
        {"id": "call_echo", "name": "testing__echo", "arguments": {"text": "ping ", "times": 3}}
    ]
    assert (stored[2].tool_call_id, stored[2].content, stored[2].is_error) == ("call_echo", "ping ping ping ", False)
    assert stored[3].content == "The server said `ping ping ping`."


def test_a_tool_card_collapses_and_expands_with_its_button(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(tool_call_reply("builtin__calculator", {"expression": "2+2"}), text_reply("4"))
    chat.send("what is 2+2")
    card = chat.tool_card("builtin__calculator")
    toggle = card.get_by_role("button", name="Calculator")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(card.get_by_text('"expression": "2+2"')).to_be_visible()

    toggle.click()

    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(card.get_by_text('"expression": "2+2"')).to_be_hidden()
    toggle.click()
    expect(card.get_by_text('"expression": "2+2"')).to_be_visible()


def test_each_tool_call_gets_its_own_card_even_when_providers_reuse_call_ids(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "6*7"}, call_id="call_1"),
        text_reply("42"),
        tool_call_reply("builtin__calculator", {"expression": "5+5"}, call_id="call_1"),
        text_reply("10"),
    )
    chat.send("what is 6*7")
    chat.expect_reply_done()
    chat.send("what is 5+5")
    chat.expect_reply_done()

    expect(chat.tool_cards).to_have_count(2)
    expect(chat.tool_cards.nth(0)).to_contain_text("6*7")
    expect(chat.tool_cards.nth(0).get_by_text("42", exact=True)).to_be_visible()
    expect(chat.tool_cards.nth(1)).to_contain_text("5+5")
    expect(chat.tool_cards.nth(1).get_by_text("10", exact=True)).to_be_visible()
