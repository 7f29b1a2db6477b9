"""The screen-reader contract: a reply is announced once, politely, when it starts and once when it ends,
never token by token; a failed reply is announced assertively. Observed on the page's live regions."""

from __future__ import annotations

from playwright.sync_api import expect

from e2e.pages.announcements import AnnouncementRecorder
from e2e.pages.chat_page import ChatPage
from e2e.pages.recorder import ReplyRecorder
from tests.support.fake_llm_server import Hold, error_reply, text_reply, tool_call_reply


def test_a_streamed_reply_is_announced_when_it_starts_and_when_it_ends_and_never_per_token(
    chat: ChatPage, fake_llm
) -> None:
    fake_llm.script(text_reply("One ", "two ", "three ", "four.", delay=0.15))
    said = AnnouncementRecorder(chat.page)
    shown = ReplyRecorder(chat.page)

    chat.send("Count to four")

    expect(chat.body(chat.last_assistant())).to_have_text("One two three four.")
    chat.expect_reply_done()
    assert len(shown.texts()) >= 3, f"the reply did not stream: {shown.texts()}"
    assert said.said() == [("polite", "Assistant is replying…"), ("polite", "Reply complete.")]


def test_a_reply_with_a_tool_round_is_still_announced_once_at_its_start_and_once_at_its_end(
    chat: ChatPage, fake_llm
) -> None:
    fake_llm.script(
        tool_call_reply("builtin__calculator", {"expression": "12*7"}, call_id="call_1"),
        text_reply("It is ", "84.", delay=0.1),
    )
    said = AnnouncementRecorder(chat.page)

    chat.send("What is 12*7?")

    expect(chat.body(chat.last_assistant())).to_have_text("It is 84.")
    chat.expect_reply_done()
    assert said.said() == [("polite", "Assistant is replying…"), ("polite", "Reply complete.")]


def test_a_stopped_reply_is_announced_as_stopped(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Counting: ", "one, ", Hold("never"), "two."))
    said = AnnouncementRecorder(chat.page)

    chat.send("Count slowly")
    expect(chat.body(chat.last_assistant())).to_have_text("Counting: one,")
    chat.stop_button.click()

    chat.expect_reply_done()
    assert said.said() == [("polite", "Assistant is replying…"), ("polite", "Reply stopped.")]


def test_a_failed_reply_is_announced_assertively_with_the_reason_shown(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(error_reply(503, "The fake LLM is overloaded."))
    said = AnnouncementRecorder(chat.page)

    chat.send("Hello?")

    reason = chat.last_assistant().get_by_text("Reply failed:")
    expect(reason).to_contain_text("503")
    chat.expect_reply_done()
    assert said.said() == [("polite", "Assistant is replying…"), ("assertive", reason.inner_text())]
