"""Copy: each message and each code block has a button that puts its text on the clipboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply

REPLY = "Use **sorted**:\n\n```python\nprint(sorted([3, 1, 2]))\n```\n"


@pytest.fixture
def clipboard(chat: ChatPage) -> ChatPage:
    chat.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    return chat


def read_clipboard(chat: ChatPage) -> str:
    return chat.page.evaluate("() => navigator.clipboard.readText()")


def test_a_reply_is_copied_as_its_markdown_and_a_question_as_typed(clipboard: ChatPage, fake_llm) -> None:
    chat = clipboard
    fake_llm.script(text_reply("Use **sorted**:\n\n", "```python\nprint(sorted([3, 1, 2]))\n```\n"))
    chat.send("how do I sort a list?")
    chat.expect_reply_done()

    reply = chat.last_assistant()
    reply.get_by_role("button", name="Copy message").click()
    expect(reply.get_by_role("button", name="Copied")).to_be_visible()
    stored = Message.objects.get(conversation_id=chat.conversation_id_from_url(), role="assistant").content
    assert stored == REPLY
    assert read_clipboard(chat) == REPLY

    question = chat.by_role("user").last
    question.get_by_role("button", name="Copy message").click()
    expect(question.get_by_role("button", name="Copied")).to_be_visible()
    assert read_clipboard(chat) == "how do I sort a list?"
    # The feedback goes back to the button's name after a moment.
    expect(reply.get_by_role("button", name="Copy message")).to_be_visible()


def test_a_code_block_copies_only_its_code(clipboard: ChatPage, fake_llm) -> None:
    chat = clipboard
    fake_llm.script(text_reply(REPLY))
    chat.send("how do I sort a list?")

    block = chat.code_block(chat.body(chat.last_assistant()), "python")
    block.get_by_role("button", name="Copy code").click()

    expect(block.get_by_role("button", name="Copied")).to_be_visible()
    assert read_clipboard(chat) == "print(sorted([3, 1, 2]))\n"


def test_copy_buttons_do_not_become_part_of_the_text_a_person_reads(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("plain answer"))
    chat.send("question")
    expect(chat.last_assistant()).to_have_text("Assistant plain answer", use_inner_text=True)
    expect(chat.last_assistant().get_by_role("button", name="Copy message")).to_be_visible()
