"""A bad line mid-reply (frames dropped, doubled, reordered, a 1006 close, slow 3G) never shows wrong text.

Each test streams a reply in held steps, mangles the page's socket in the middle with Playwright's
`route_web_socket` (e2e/pages/socket_tap.py) or throttles it through CDP, and checks what a person
would see: every text the reply showed was a start of the stored reply (nothing out of place, doubled
or missing), it ends exactly as stored, and the connection indicator said what was happening.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from e2e.pages.recorder import ConnectionRecorder, ReplyRecorder
from e2e.pages.socket_tap import SocketTap
from tests.support.fake_llm_server import Hold, text_reply

STEPS = ["Alpha ", "beta ", "gamma ", "delta ", "epsilon."]
Policy = Callable[[dict[str, Any], str], list[str]]


def _tapped(chat: ChatPage) -> SocketTap:
    tap = SocketTap()
    chat.page.route_web_socket(re.compile(r"/ws/chat/$"), tap)
    chat.page.reload()
    chat.expect_connected()
    return tap


def _script_in_steps(fake_llm) -> None:
    parts: list[Any] = []
    for index, step in enumerate(STEPS):
        parts.append(step)
        if index < len(STEPS) - 1:
            parts.append(Hold(f"step{index}"))
    fake_llm.script(text_reply(*parts))


def _stream_step_by_step(
    chat: ChatPage, fake_llm, *, unseen: int | None = None, before_release: Callable[[int], None] | None = None
) -> None:
    """At each hold the reply must show exactly the steps sent so far; then the next step is released.

    At hold `unseen` the step just sent was kept from the page: nothing can tell it that yet.
    """
    body = chat.body(chat.last_assistant())
    for index in range(len(STEPS) - 1):
        fake_llm.wait_until_held(f"step{index}")
        if index != unseen:
            expect(body).to_have_text("".join(STEPS[: index + 1]).strip())
        if before_release:
            before_release(index)
        fake_llm.release(f"step{index}")


def _expect_page_shows_what_is_stored(chat: ChatPage, replies: ReplyRecorder) -> None:
    reply = chat.last_assistant()
    expect(reply).to_have_attribute("data-status", "complete")
    chat.expect_reply_done()
    stored = Message.objects.get(role=Message.Role.ASSISTANT)
    assert stored.status == Message.Status.COMPLETE and stored.content == "".join(STEPS)
    expect(chat.body(reply)).to_have_text(stored.content)
    expect(chat.by_role("assistant")).to_have_count(1)
    expect(chat.by_role("user")).to_have_count(1)
    wrong = [text for text in replies.texts() if not stored.content.startswith(text)]
    assert not wrong, f"the reply showed text that is not a start of the stored reply {stored.content!r}: {wrong}"


def _is_delta_after_start(frame: dict[str, Any]) -> bool:
    return frame["type"] == "assistant.delta" and frame["offset"] > 0


def _start(chat: ChatPage, fake_llm, policy: Policy | None = None) -> tuple[SocketTap, ReplyRecorder, ConnectionRecorder]:
    tap = _tapped(chat)
    tap.from_server = policy
    replies, states = ReplyRecorder(chat.page), ConnectionRecorder(chat.page)
    _script_in_steps(fake_llm)
    chat.send("Count to five in Greek letters")
    return tap, replies, states


def test_a_dropped_delta_is_noticed_and_the_missing_text_fetched(chat: ChatPage, fake_llm) -> None:
    dropped: list[dict[str, Any]] = []

    def drop_one_delta(frame: dict[str, Any], message: str) -> list[str]:
        if not dropped and _is_delta_after_start(frame):
            dropped.append(frame)
            return []
        return [message]

    tap, replies, states = _start(chat, fake_llm, drop_one_delta)
    _stream_step_by_step(chat, fake_llm, unseen=1)  # "beta " is lost; "gamma " then arrives past a gap

    _expect_page_shows_what_is_stored(chat, replies)
    assert dropped and dropped[0]["text"] == "beta ", dropped
    assert states.states() == ["connected"], f"the line never closed, yet the indicator went {states.states()}"
    assert len(tap.connections) == 1


def test_every_frame_twice_shows_each_message_once(chat: ChatPage, fake_llm) -> None:
    tap, replies, states = _start(chat, fake_llm, lambda frame, message: [message, message])
    _stream_step_by_step(chat, fake_llm)

    _expect_page_shows_what_is_stored(chat, replies)
    expect(chat.conversation_links).to_have_count(1)
    assert states.states() == ["connected"], states.states()


def test_a_delayed_delta_arriving_after_the_next_one_changes_nothing(chat: ChatPage, fake_llm) -> None:
    late: list[str] = []
    swapped: list[tuple[int, int]] = []

    def swap_two_deltas(frame: dict[str, Any], message: str) -> list[str]:
        if swapped or not _is_delta_after_start(frame):
            return [message]
        if not late:
            late.append(message)  # held back until the next delta has gone ahead of it
            return []
        swapped.append((json.loads(late[0])["offset"], frame["offset"]))
        return [message, late[0]]

    tap, replies, states = _start(chat, fake_llm, swap_two_deltas)
    _stream_step_by_step(chat, fake_llm, unseen=1)  # "beta " waits in the tap until "gamma " has gone ahead

    _expect_page_shows_what_is_stored(chat, replies)
    assert swapped == [(len("Alpha "), len("Alpha beta "))], swapped
    assert states.states() == ["connected"], states.states()


def test_an_abrupt_close_mid_reply_says_so_reconnects_and_resumes(chat: ChatPage, fake_llm) -> None:
    tap, replies, states = _start(chat, fake_llm)

    def cut_at_step_two(index: int) -> None:
        if index != 2:
            return
        tap.drop(0)
        expect(chat.connection).to_contain_text("reconnecting")
        chat.expect_connected()

    _stream_step_by_step(chat, fake_llm, before_release=cut_at_step_two)

    _expect_page_shows_what_is_stored(chat, replies)
    assert len(tap.connections) == 2, f"expected one reconnection, saw {len(tap.connections)} sockets"
    assert states.states() == ["connected", "disconnected", "connecting", "connected"], states.states()
    opened = [frame for frame in tap.sent(1) if frame["type"] == "conversation.open"]
    assert [frame["last_seq"] for frame in opened] == [1], opened


def test_a_reply_over_slow_3g_ends_exactly_as_stored(chat: ChatPage, fake_llm) -> None:
    cdp = chat.page.context.new_cdp_session(chat.page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        # Chrome DevTools' "Slow 3G" preset: 400 ms latency (x5 for its packet queueing), ~50 KB/s.
        {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000},
    )
    chat.page.reload()
    chat.expect_connected()
    replies, states = ReplyRecorder(chat.page), ConnectionRecorder(chat.page)
    _script_in_steps(fake_llm)

    chat.send("Count to five in Greek letters")
    _stream_step_by_step(chat, fake_llm)

    _expect_page_shows_what_is_stored(chat, replies)
    assert states.states() == ["connected"], states.states()
    cdp.detach()
