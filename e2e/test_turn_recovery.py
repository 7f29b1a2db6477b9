"""What a person sees when a turn outlives its page or its server: nothing is lost, nothing hangs."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import expect

from chat.models import Message
from chat.services import INTERRUPTED
from e2e.pages.chat_page import ChatPage
from tests.support.daphne import launch_daphne, wait_until_serving
from tests.support.fake_llm_server import Hold, text_reply, tool_call_reply
from tests.support.stored import stored_rows


def test_a_reload_during_a_confirmation_asks_again_and_allow_still_runs_the_tool(
    chat: ChatPage, fake_llm, live_stack
) -> None:
    fake_llm.script(
        tool_call_reply("testing__delete_file", {"path": "/tmp/old.log"}, call_id="call_del"),
        text_reply("Deleted."),
    )
    chat.send("Delete /tmp/old.log")
    expect(chat.tool_card("testing__delete_file").get_by_role("button", name="Allow")).to_be_visible()

    chat.page.reload()
    chat.expect_connected()

    card = chat.tool_card("testing__delete_file")
    expect(card).to_have_attribute("data-state", "confirming")
    expect(card.get_by_role("button", name="Deny")).to_be_visible()
    card.get_by_role("button", name="Allow").click()
    expect(card).to_have_attribute("data-state", "done")
    expect(chat.body(chat.last_assistant())).to_have_text("Deleted.")
    chat.expect_reply_done()
    assert live_stack.mcp_calls() == [("delete_file", {"path": "/tmp/old.log"})]
    rows = stored_rows(chat.conversation_id_from_url())
    assert [(m.role, m.status) for m in rows] == [
        ("user", "complete"), ("assistant", "complete"), ("tool", "complete"), ("assistant", "complete"),
    ]


def test_after_a_server_restart_mid_reply_the_reply_shows_interrupted_and_can_be_asked_again(
    logged_in_context, make_user, fake_llm, live_stack, tmp_path: Path
) -> None:
    # A short lease so the restart is noticed within the page's wait; not so short that a loaded machine's
    # renewal lag lets the sweep take a live turn's lease.
    env = {**(live_stack.env or {}), "CHAT_TURN_LEASE_SECONDS": "3", "CHAT_TURN_SWEEP_SECONDS": "0.3"}
    page = logged_in_context(make_user("alice")).new_page()
    fake_llm.script(text_reply("Half of ", "a story", Hold("crash"), " never told."), text_reply("Back again."))
    # Both start now, their start-ups overlapping: "after" takes the page once "before" is killed. While
    # "before" renews its turn's lease, the sweep of "after" leaves the turn alone, as a second process would.
    before, after = wait_until_serving(
        [launch_daphne(env, tmp_path, name="before-restart"), launch_daphne(env, tmp_path, name="after-restart")]
    )
    try:
        page.goto(before.url + "/")
        chat = ChatPage(page)
        chat.expect_connected()
        chat.send("Tell me a story")
        expect(chat.body(chat.last_assistant())).to_have_text("Half of a story")
        fake_llm.wait_until_held("crash")
        conversation_id = chat.conversation_id_from_url()
        _wait_until_stored(conversation_id, "Half of a story")  # an interim save: within CHAT_SAVE_INTERVAL_SECONDS

        before.kill()
        expect(chat.connection).not_to_have_text("Connected")
        page.goto(f"{after.url}/c/{conversation_id}/")
        chat.expect_connected()

        reply = chat.last_assistant()
        expect(reply).to_have_attribute("data-status", "failed")
        expect(reply).to_contain_text("Reply failed: " + INTERRUPTED)
        expect(chat.body(reply)).to_have_text("Half of a story")
        chat.expect_reply_done()
        reply.get_by_role("button", name="Ask again").click()  # the last reply: written again, as Regenerate does
        expect(chat.body(chat.last_assistant())).to_have_text("Back again.")
        chat.expect_reply_done()
        expect(chat.messages.locator(".message-body")).to_have_text(["Tell me a story", "Back again."])
        expect(chat.last_assistant().get_by_test_id("versions")).to_have_attribute("aria-label", "Version 2 of 2")
    finally:
        before.kill()
        after.stop()

    rows = stored_rows(conversation_id)
    assert [(m.role, m.status, m.content, m.shown) for m in rows] == [
        ("user", "complete", "Tell me a story", True), ("assistant", "failed", "Half of a story", False),
        ("assistant", "complete", "Back again.", True),
    ]
    assert rows[1].error == INTERRUPTED


def _wait_until_stored(conversation_id: int, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    reply = Message.objects.filter(conversation_id=conversation_id, role="assistant")
    while not reply.filter(content=text).exists():
        assert time.monotonic() < deadline, f"{text!r} not saved within {timeout} s: {list(reply.values('content'))}"
        time.sleep(0.05)  # allowed-sleep: polling another process's writes, bounded by the deadline above
