"""Readable code: a fenced block is highlighted by the server, labelled with its language, with a copy button; tables render."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply

CODE = 'def greet(name):\n    return "<b>" + name\n'


def test_a_code_block_is_highlighted_with_its_language_and_a_copy_button(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Here:\n\n```python\n", CODE, "```\n"))
    chat.send("write a greeting function")

    reply = chat.body(chat.last_assistant())
    block = chat.code_block(reply, "python")
    expect(block.get_by_text("python", exact=True)).to_be_visible()
    expect(block.get_by_role("button", name="Copy code")).to_be_visible()
    code = block.locator("code")
    expect(code).to_have_text(CODE)  # the markup in the code is shown as text
    keyword = code.get_by_text("def", exact=True)
    name = code.get_by_text("greet", exact=True)
    expect(keyword).to_be_visible()
    colours = [part.evaluate("node => getComputedStyle(node).color") for part in (keyword, name, code)]
    assert len(set(colours)) == 3, f"keyword, function name and plain code should differ in colour: {colours}"


def test_a_markdown_table_renders_as_a_table(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("| unit | km |\n", "|---|---|\n", "| mile | 1.609 |\n"))
    chat.send("a table please")

    table = chat.body(chat.last_assistant()).get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_text(["unit", "km"])
    expect(table.get_by_role("cell")).to_have_text(["mile", "1.609"])
