"""Streaming: the reply grows token by token, and Stop ends it keeping what was written."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.recorder import ReplyRecorder
from tests.support.fake_llm_server import Hold, text_reply


def test_tokens_appear_one_after_another(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("One ", "two ", "three ", "four.", delay=0.3))
    recorder = ReplyRecorder(chat.page)

    chat.send("Count to four")

    reply = chat.last_assistant()
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(chat.stop_button).to_be_visible()
    expect(chat.body(reply)).to_have_text("One two three four.")
    expect(reply).to_have_attribute("data-status", "complete")
    assert recorder.texts() == ["One", "One two", "One two three", "One two three four."], (
        "expected the reply to grow one token at a time, never doubled"
    )


def test_stop_ends_the_reply_keeps_the_partial_text_and_stores_it_as_stopped(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Counting: ", "one, ", "two, ", Hold("before-three"), "three."))

    chat.send("Count slowly")
    reply = chat.last_assistant()
    expect(chat.body(reply)).to_have_text("Counting: one, two, ")
    fake_llm.wait_until_held("before-three")

    chat.stop_button.click()

    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.get_by_text("Stopped")).to_be_visible()
    expect(chat.body(reply)).to_have_text("Counting: one, two,")
    chat.expect_reply_done()
    fake_llm.wait_for_outcome(0, "client_closed")  # fails if the provider stream stayed open
    assert len(fake_llm.requests) == 1, "Stop asked the model again"
    stored = Message.objects.get(conversation_id=chat.conversation_id_from_url(), role="assistant")
    assert (stored.status, stored.content) == ("stopped", "Counting: one, two, ")
