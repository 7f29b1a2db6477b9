"""Logging in and out: the gate in front of every page and socket."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.login_page import LoginPage
from e2e.pages.socket_tap import SocketTap


def test_logging_in_lands_on_the_chat_page(page: Page, make_user) -> None:
    make_user("alice", password="alice-password-1")
    LoginPage(page).open().log_in("alice", "alice-password-1")
    chat = ChatPage(page)
    expect(page).to_have_url(re.compile(r"/$"))
    chat.expect_connected()
    expect(page.get_by_text("alice", exact=True)).to_be_visible()
    expect(chat.composer).to_be_focused()


def test_a_wrong_password_shows_an_error_and_stays_on_the_login_page(page: Page, make_user) -> None:
    make_user("alice", password="alice-password-1")
    login = LoginPage(page).open()
    login.log_in("alice", "not-the-password")
    expect(login.error).to_contain_text("enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(login.username).to_have_value("alice")


def test_an_anonymous_visit_to_the_chat_page_is_sent_to_login(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


OPEN_SOCKET_JS = """
() => new Promise((resolve) => {
  const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/chat/");
  const timer = setTimeout(() => resolve("no answer within 5 s"), 5000);
  socket.onopen = () => { clearTimeout(timer); socket.close(); resolve("accepted"); };
  socket.onclose = () => { clearTimeout(timer); resolve("refused"); };
})
"""


def test_logging_out_ends_the_session_and_the_socket(chat: ChatPage, new_context) -> None:
    session_cookies = chat.page.context.cookies()

    chat.logout_button.click()

    expect(chat.page).to_have_url(re.compile(r"/accounts/login/$"))
    chat.page.goto("/")
    expect(chat.page).to_have_url(re.compile(r"/accounts/login/"))
    # The old session is dead on the server: replaying its cookie gets neither the page nor a socket.
    stale = new_context()  # pytest-playwright's: traced, and closed after the test
    stale.add_cookies(session_cookies)
    page = stale.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert page.evaluate(OPEN_SOCKET_JS) == "refused"


def test_a_tab_left_open_after_logging_out_elsewhere_goes_to_login_when_its_socket_drops(
    chat: ChatPage, live_stack
) -> None:
    other_tab = ChatPage(chat.page.context.new_page())
    tap = SocketTap()
    other_tab.page.route_web_socket(re.compile(r"/ws/chat/$"), tap)
    other_tab.open()

    chat.logout_button.click()
    expect(chat.page).to_have_url(re.compile(r"/accounts/login/$"))
    tap.cut(0)

    expect(other_tab.page).to_have_url(re.compile(r"/accounts/login/"))


def test_logging_out_in_one_tab_sends_the_other_tab_to_the_login_page(chat: ChatPage) -> None:
    other_tab = ChatPage(chat.page.context.new_page()).open()

    chat.logout_button.click()

    expect(chat.page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(other_tab.page).to_have_url(re.compile(r"/accounts/login/"))
    expect(other_tab.page.get_by_role("heading", name="Log in")).to_be_visible()
