"""A dropped connection comes back by itself and resumes the reply where it was, nothing lost or doubled."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.recorder import ConnectionRecorder
from e2e.pages.socket_tap import SocketTap
from tests.support.fake_llm_server import Hold, text_reply


def test_a_dropped_connection_reconnects_and_resumes_the_reply(chat: ChatPage, fake_llm) -> None:
    tap = SocketTap()
    chat.page.route_web_socket(re.compile(r"/ws/chat/$"), tap)
    chat.page.reload()
    chat.expect_connected()
    states = ConnectionRecorder(chat.page)
    fake_llm.script(text_reply("Before the drop, ", Hold("drop"), "after the drop."))

    chat.send("Keep talking")
    reply = chat.last_assistant()
    expect(chat.body(reply)).to_have_text("Before the drop, ")
    fake_llm.wait_until_held("drop")

    tap.cut(0)

    chat.expect_connected()
    assert len(tap.connections) == 2, f"expected one reconnection, saw {len(tap.connections)} sockets"
    seen = states.states()
    assert seen[0] == "connected" and "disconnected" in seen and seen[-1] == "connected", (
        f"expected the indicator to go connected -> disconnected -> connected, it went {seen}"
    )
    opened = [f for f in tap.sent(1) if f["type"] == "conversation.open"]
    assert opened == [{"type": "conversation.open", "conversation_id": chat.conversation_id_from_url(), "last_seq": 1}]

    fake_llm.release("drop")

    expect(chat.body(reply)).to_have_text("Before the drop, after the drop.")
    expect(reply).to_have_attribute("data-status", "complete")
    expect(chat.by_role("assistant")).to_have_count(1)
    expect(chat.by_role("user")).to_have_count(1)
