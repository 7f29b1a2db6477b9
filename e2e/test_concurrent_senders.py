"""Sending twice at once (a double-click, Enter twice, two tabs) stores one message and one reply per accepted send.

A send the server refuses because a reply is being written is shown as not sent, with why, in the tab
that sent it: nothing is lost without a word.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.socket_tap import SocketTap
from tests.support.fake_llm_server import Hold, text_reply

BUSY = "Not sent: A reply is still being written; stop it or wait."


def _stored(role: str) -> list[str]:
    return list(Message.objects.filter(role=role).order_by("seq").values_list("content", flat=True))


def _expect_one_exchange(chat: ChatPage, fake_llm, question: str) -> None:
    expect(chat.by_role("user")).to_have_count(1)
    expect(chat.body(chat.by_role("user").first)).to_have_text(question)
    expect(chat.last_assistant()).to_have_attribute("data-status", "complete")
    expect(chat.by_role("assistant")).to_have_count(1)
    chat.expect_reply_done()
    assert _stored(Message.Role.USER) == [question]
    assert _stored(Message.Role.ASSISTANT) == ["Just once."]
    assert len(fake_llm.requests) == 1, f"the model was asked {len(fake_llm.requests)} times"


def test_a_double_click_on_send_sends_once(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Just ", "once."), text_reply("A second reply."))
    chat.composer.fill("clicked twice")

    chat.send_button.dblclick()

    _expect_one_exchange(chat, fake_llm, "clicked twice")


def test_enter_pressed_twice_fast_sends_once(chat: ChatPage, fake_llm) -> None:
    fake_llm.script(text_reply("Just ", "once."), text_reply("A second reply."))
    chat.composer.fill("entered twice")

    # Both keydowns in one task of the page: nothing can run between them, not even a paint.
    chat.composer.evaluate(
        """(input) => {
            for (let i = 0; i < 2; i += 1) {
                input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
            }
        }"""
    )

    _expect_one_exchange(chat, fake_llm, "entered twice")


def test_two_tabs_sending_at_the_same_instant_get_one_reply_and_one_busy(chat: ChatPage, fake_llm, live_stack) -> None:
    fake_llm.script(text_reply("First answer."))
    chat.send("first")
    chat.expect_reply_done()
    conversation = chat.conversation_id_from_url()

    tap = SocketTap()
    chat.page.context.route_web_socket(re.compile(r"/ws/chat/$"), tap)  # both tabs of this person
    chat.open(conversation)
    other = ChatPage(chat.page.context.new_page()).open(conversation)
    expect(other.body(other.last_assistant())).to_have_text("First answer.")
    tabs = {"tab A": chat, "tab B": other}

    fake_llm.script(text_reply("Only ", Hold("reply"), "one reply."), text_reply("A second reply."))
    tap.hold_from_page = lambda frame: frame["type"] == "message.send"
    for name, tab in tabs.items():
        tab.send(f"from {name}")
    tap.wait_for_held(chat.page, 2)
    tap.release_held()  # both reach the server together, on two sockets

    fake_llm.wait_until_held("reply")
    new = _stored(Message.Role.USER)[1:]
    assert len(new) == 1 and new[0] in {"from tab A", "from tab B"}, f"stored user messages after the first: {new}"
    winner = new[0].removeprefix("from ")
    (loser,) = set(tabs) - {winner}

    refused = tabs[loser].by_role("user").filter(has_text=f"from {loser}")
    expect(refused).to_have_attribute("data-status", "failed")
    expect(refused.get_by_text(BUSY)).to_be_visible()
    expect(tabs[winner].page.get_by_text("Not sent")).to_have_count(0)

    fake_llm.release("reply")
    for tab in tabs.values():  # both tabs show the accepted message and its one reply
        expect(tab.by_role("user").filter(has_text=f"from {winner}")).to_have_attribute("data-status", "complete")
        expect(tab.body(tab.last_assistant())).to_have_text("Only one reply.")
        expect(tab.by_role("assistant")).to_have_count(2)
        tab.expect_reply_done()
    assert _stored(Message.Role.USER) == ["first", f"from {winner}"]
    assert _stored(Message.Role.ASSISTANT) == ["First answer.", "Only one reply."]
    assert len(fake_llm.requests) == 2, f"the model was asked {len(fake_llm.requests)} times"
