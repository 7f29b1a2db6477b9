"""A message sent while a reply is written waits in a queue, shown as queued, and goes when the reply ends;
one sent while the page has no connection waits the same way and goes when it connects; a queued message
can be removed and is then never sent. Also "Jump to latest" for a person reading back."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.socket_tap import SocketTap
from tests.support.fake_llm_server import Hold, text_reply


def stored(role: str) -> list[str]:
    return list(Message.objects.filter(role=role).order_by("conversation_id", "seq").values_list("content", flat=True))


def test_a_message_sent_during_a_reply_is_queued_then_sent_after_it(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("First ", Hold("first"), "answer."), text_reply("Second answer."))
    chat.send("first question")
    expect(chat.body(chat.last_assistant())).to_have_text("First")
    fake_llm.wait_until_held("first")

    chat.send("second question")
    queued = chat.messages.filter(has_text="second question")
    expect(queued).to_have_attribute("data-status", "queued")
    expect(queued).to_contain_text("Queued: sent when the reply finishes.")
    assert stored("user") == ["first question"]  # not sent yet
    assert len(fake_llm.requests) == 1

    fake_llm.release("first")
    expect(chat.assistant_replies()).to_have_count(2)
    expect(chat.body(chat.last_assistant())).to_have_text("Second answer.")
    chat.expect_reply_done()
    expect(chat.messages.filter(has_text="Queued")).to_have_count(0)
    # On the page and in the database: question, answer, question, answer.
    expect(chat.messages.locator(".message-body")).to_have_text(["first question", "First answer.", "second question", "Second answer."])
    assert stored("user") == ["first question", "second question"]
    assert stored("assistant") == ["First answer.", "Second answer."]


def test_a_message_sent_while_the_page_has_no_connection_waits_and_goes_when_it_connects(
    chat: ChatPage, fake_llm
) -> None:
    tap = SocketTap()
    chat.page.route_web_socket(re.compile(r"/ws/chat/$"), tap)
    chat.page.reload()
    chat.expect_connected()
    fake_llm.script(text_reply("Sent once connected."))
    tap.refuse_new = True  # however slow this machine, the page cannot reconnect before the message is queued
    tap.drop(0)
    expect(chat.connection).to_contain_text("Disconnected")

    chat.send("typed while disconnected")
    queued = chat.messages.filter(has_text="typed while disconnected")
    expect(queued).to_have_attribute("data-status", "queued")
    expect(queued).to_contain_text("Queued: sent when connected.")
    expect(queued.get_by_role("button", name="Edit message")).to_be_hidden()  # it has no seq to edit yet
    expect(chat.composer).to_have_value("")
    assert stored("user") == [] and len(fake_llm.requests) == 0
    assert not [frame for frame in tap.sent(0) if frame["type"] == "message.send"]

    tap.refuse_new = False
    # the page's next attempt, after its back-off (1 s, then 2 s, then 4 s, each +-20%)
    expect(chat.connection).to_have_text("Connected", timeout=10_000)
    expect(chat.body(chat.last_assistant())).to_have_text("Sent once connected.")
    expect(chat.by_role("user")).to_have_count(1)
    expect(chat.by_role("user")).to_have_attribute("data-status", "complete")
    assert stored("user") == ["typed while disconnected"]


def test_a_queued_message_can_be_removed_and_is_never_sent(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Only ", Hold("only"), "answer."), text_reply("Must not be asked for."))
    chat.send("the question")
    fake_llm.wait_until_held("only")
    chat.send("never mind")
    queued = chat.messages.filter(has_text="never mind")
    queued.get_by_role("button", name="Remove queued message").click()
    expect(queued).to_have_count(0)

    fake_llm.release("only")
    chat.expect_reply_done()
    expect(chat.body(chat.last_assistant())).to_have_text("Only answer.")
    assert stored("user") == ["the question"]
    assert len(fake_llm.requests) == 1


def test_jump_to_latest_shows_while_reading_back_and_brings_the_log_to_the_end(chat: ChatPage, fake_llm) -> None:
    long_text = "\n\n".join(f"Paragraph {n} of a long reply." for n in range(60))
    fake_llm.script(text_reply(long_text[:-300], Hold("more"), long_text[-300:]))  # the log overflows before the hold
    chat.send("tell me a lot")
    fake_llm.wait_until_held("more")
    jump = chat.page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_hidden()  # at the bottom: nothing to jump to
    chat.log.evaluate("(log) => { log.scrollTop = 0; log.dispatchEvent(new Event('scroll')); }")

    fake_llm.release("more")
    chat.expect_reply_done()
    expect(jump).to_be_visible()
    at_top = chat.log.evaluate("(log) => log.scrollTop")
    assert at_top < 200, "new text moved the log while the person was reading further up"

    jump.click()
    expect(jump).to_be_hidden()
    assert chat.log.evaluate("(log) => log.scrollHeight - log.scrollTop - log.clientHeight") < 80
