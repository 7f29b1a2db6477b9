"""Tool cards name the tool the way a person would read it, show its server as a small label and how long the call took."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply

DURATION = re.compile(r"^\d+ ms$|^\d+(\.\d)? s$")


def test_a_card_shows_the_tools_title_its_server_and_the_calls_duration(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "6*7"}, call_id="call_calc"),
        tool_call_reply("testing__echo", {"text": "hi"}, call_id="call_echo"),
        text_reply("42, and hi."),
    )
    chat.send("what is 6*7, then echo hi")
    chat.expect_reply_done()

    calculator = chat.page.get_by_role("article", name="Tool call Calculator")
    toggle = calculator.get_by_role("button", name="Calculator")
    expect(toggle.get_by_text("Calculator", exact=True)).to_be_visible()
    expect(toggle.get_by_text("builtin", exact=True)).to_be_visible()
    expect(toggle.get_by_title("Duration of the call")).to_have_text(DURATION)
    expect(toggle).not_to_contain_text("builtin__calculator")  # the internal name stays in the details

    echo = chat.page.get_by_role("article", name="Tool call Echo text")  # the MCP server's own title
    expect(echo.get_by_role("button").get_by_text("testing", exact=True)).to_be_visible()
    expect(echo.get_by_title("Duration of the call")).to_have_text(DURATION)

    chat.page.reload()  # a replayed card reads the same
    chat.expect_connected()
    expect(chat.page.get_by_role("article", name="Tool call Calculator").get_by_title("Duration of the call")).to_have_text(
        DURATION
    )
