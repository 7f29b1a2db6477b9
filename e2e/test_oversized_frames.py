"""Frames daphne itself refuses (too large, invalid UTF-8) close with a code and reason, not a dropped line."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from e2e.pages.socket_tap import SocketTap
from tests.support.login import login


@pytest.fixture
def chat_socket(make_user, live_stack):
    """A logged-in socket to the live daphne, opened with a real session cookie and the site's Origin."""
    cookie = login(make_user("alice")).header
    url = live_stack.url.replace("http://", "ws://") + "/ws/chat/"
    with connect(
        url, origin=live_stack.url, additional_headers={"Cookie": cookie}, open_timeout=5, max_size=None
    ) as socket:
        yield socket


def closed_with(socket) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)
    received = closed.value.rcvd
    assert received is not None, "the server dropped the connection without a close frame (a browser sees 1006)"
    return received.code, received.reason


def test_a_frame_over_the_servers_limit_closes_with_1009(chat_socket) -> None:
    chat_socket.send("x" * (1024 * 1024 + 1))
    code, reason = closed_with(chat_socket)
    assert code == 1009 and "exceeds payload limit" in reason


def test_a_text_frame_of_invalid_utf8_closes_with_1007(chat_socket) -> None:
    chat_socket.send(b'{"type": "ping", "nonce": "\xff\xfe"}', text=True)
    code, _ = closed_with(chat_socket)
    assert code == 1007


def test_the_page_says_message_too_large_when_the_server_closes_with_1009(chat) -> None:
    page = chat.page
    tap = SocketTap()
    page.route_web_socket(re.compile(r"/ws/chat/$"), tap)
    chat.open()

    tap.close_as_server(0, 1009, "received WebSocket message size 1048577 exceeds payload limit")

    expect(page.get_by_role("alert")).to_contain_text("message too large")
    chat.expect_connected()
    expect(page.get_by_role("alert")).to_contain_text("message too large")
