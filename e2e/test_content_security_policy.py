"""The pages work under their Content-Security-Policy, with no violation reported."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.pages.chat_page import ChatPage
from e2e.pages.login_page import LoginPage
from tests.support.fake_llm_server import text_reply

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_login_and_a_reply_work_under_the_policy_with_no_violation(page: Page, make_user, fake_llm) -> None:
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    make_user("alice", password="alice-password-1")
    fake_llm.script(text_reply("Hello ", "**there**."))

    response = page.goto("/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    LoginPage(page).log_in("alice", "alice-password-1")
    chat = ChatPage(page)
    chat.expect_connected()
    chat.send("hi")
    expect(chat.body(chat.last_assistant()).locator("strong")).to_have_text("there")
    chat.expect_reply_done()

    assert page.evaluate("() => window.__cspViolations") == []
    assert not [text for text in console if "Content Security Policy" in text], console
