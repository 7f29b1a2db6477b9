"""When the LLM provider fails, the person is told clearly, and the next message works."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import error_reply, text_reply


def test_a_503_from_the_provider_shows_a_clear_error_and_the_next_message_succeeds(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(error_reply(503, "The fake LLM is overloaded."), text_reply("Back ", "again."))

    chat.send("Hello?")

    failed = chat.by_role("assistant").first
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.get_by_text("Reply failed:")).to_contain_text("503")
    chat.expect_reply_done()
    expect(chat.send_button).to_be_disabled()  # empty composer, but usable again

    chat.send("And now?")

    expect(chat.body(chat.by_role("assistant").nth(1))).to_have_text("Back again.")
    chat.expect_reply_done()
    statuses = list(
        Message.objects.filter(conversation_id=chat.conversation_id_from_url(), role="assistant")
        .order_by("seq")
        .values_list("status", flat=True)
    )
    assert statuses == ["failed", "complete"]
