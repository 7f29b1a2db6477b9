"""A reload mid-stream loses nothing: the partial reply comes back and the rest streams in, once."""

from __future__ import annotations

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.recorder import ReplyRecorder
from tests.support.fake_llm_server import Hold, text_reply


def test_a_reload_mid_stream_shows_the_partial_reply_then_the_rest(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("The first half, ", "still the first; ", Hold("reload"), "the second ", "half."))
    chat.send("Tell me a long story")
    expect(chat.body(chat.last_assistant())).to_have_text("The first half, still the first; ")
    fake_llm.wait_until_held("reload")

    chat.page.reload()
    chat.expect_connected()

    reply = chat.last_assistant()
    expect(chat.body(reply)).to_have_text("The first half, still the first; ")
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(chat.stop_button).to_be_visible()
    recorder = ReplyRecorder(chat.page)
    fake_llm.release("reload")

    expect(chat.body(reply)).to_have_text("The first half, still the first; the second half.")
    expect(reply).to_have_attribute("data-status", "complete")
    expect(chat.by_role("user")).to_have_count(1)
    expect(chat.by_role("assistant")).to_have_count(1)
    assert all(text.count("The first half") == 1 for text in recorder.texts()), recorder.texts()
    stored = Message.objects.get(conversation_id=chat.conversation_id_from_url(), role="assistant")
    assert (stored.status, stored.content) == ("complete", "The first half, still the first; the second half.")
    assert len(fake_llm.requests) == 1, "the reload started a second generation"
