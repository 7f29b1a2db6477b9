"""A failing tool is shown as an error in its card, and the model's recovery reply is rendered."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply


def test_a_tool_error_shows_in_its_card_and_the_recovery_reply_renders(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "1/0"}, call_id="call_div"),
        text_reply("Dividing by zero ", "is not defined, ", "so there is no answer."),
    )

    chat.send("what is 1/0")

    card = chat.tool_card("builtin__calculator")
    expect(card).to_have_attribute("data-state", "error")
    expect(card.get_by_text("error", exact=True)).to_be_visible()
    expect(card.get_by_text("Division by zero")).to_be_visible()
    expect(chat.body(chat.last_assistant())).to_have_text("Dividing by zero is not defined, so there is no answer.")
    chat.expect_reply_done()

    tool_result = fake_llm.wait_for_requests(2)[1].messages[-1]
    assert tool_result["role"] == "tool" and "Division by zero" in tool_result["content"]
    stored = Message.objects.get(conversation_id=chat.conversation_id_from_url(), role="tool")
    assert stored.is_error and stored.tool_call_id == "call_div"
