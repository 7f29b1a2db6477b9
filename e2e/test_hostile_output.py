"""A reply full of markup is shown as inert text: nothing runs, no dialog opens."""

from __future__ import annotations

from playwright.sync_api import Dialog, expect

from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply

HOSTILE = [
    "Look: <script>window.__pwned = 'script'; alert('script')</script> ",
    "<img src=\"x\" onerror=\"window.__pwned = 'img'; alert('img')\"> ",
    "[click me](javascript:alert('link')) ",
    "<a href=\"javascript:alert('raw-link')\">raw link</a> ",
    "<b onclick=\"alert('b')\">bold</b> <iframe src=\"javascript:alert('frame')\"></iframe>",
]


def test_hostile_markup_in_a_reply_renders_as_inert_text(chat: ChatPage, fake_llm) -> None:
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    chat.page.on("dialog", dismiss)
    fake_llm.script(text_reply(*HOSTILE, delay=0.05))

    chat.send("Say something nasty")

    reply = chat.last_assistant()
    expect(reply).to_have_attribute("data-status", "complete")
    body = chat.body(reply)
    expect(body).to_contain_text("<script>window.__pwned = 'script'; alert('script')</script>")
    expect(body).to_contain_text('<img src="x" onerror=')
    expect(body.locator("script, img, iframe, [onerror], [onclick], b")).to_have_count(0)
    expect(body.locator('a[href^="javascript:" i]')).to_have_count(0)
    assert chat.page.evaluate("() => window.__pwned === undefined"), "hostile markup ran script"
    assert dialogs == [], f"a dialog opened: {dialogs}"
