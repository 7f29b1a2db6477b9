"""A tool that returns hostile text (an exfiltrating image, event handlers, javascript: links, 1 MB) harms nothing.

The model repeats what the tool said, as a prompt-injected model would. Nothing runs, nothing is fetched
from outside (and the Content-Security-Policy would block it if markup ever slipped through), and the
cards stay usable, a huge result cut in its card and marked, with the text the model was given stored.
"""

from __future__ import annotations

from playwright.sync_api import Dialog, Page, Request, expect

from chat.models import Message
from chat.tools.results import truncate
from e2e.pages.chat_page import ChatPage
from tests.support.fake_llm_server import text_reply, tool_call_reply
from tests.support.mcp_servers import EXFIL_URL, HOSTILE_RESULTS

OUTSIDE_HOST = "exfil.example"
CARD_RESULT_CHARS = 2000  # tool-cards.js: the characters of a result a card shows before "Show all"
MCP_MAX_RESULT_CHARS = 20000  # the setting's default: what the model is given and what is stored

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class Watch:
    """Everything a hostile payload could set off: requests leaving for the outside host, dialogs."""

    def __init__(self, page: Page) -> None:
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", self._request)
        page.on("dialog", self._dialog)
        page.add_init_script(RECORD_VIOLATIONS)

    def _request(self, request: Request) -> None:
        if OUTSIDE_HOST in request.url:
            self.outside.append(request.url)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _open(chat: ChatPage) -> Watch:
    watch = Watch(chat.page)
    chat.open()  # again, so the init script records this page's policy violations
    return watch


def test_hostile_tool_output_and_its_echo_in_the_reply_run_nothing_and_fetch_nothing(chat: ChatPage, fake_llm) -> None:
    watch = _open(chat)
    echoed = " ".join(HOSTILE_RESULTS[kind] for kind in ("image", "html", "link"))
    fake_llm.script(
        tool_call_reply("testing__hostile", {"kind": "image"}, call_id="call_image"),
        tool_call_reply("testing__hostile", {"kind": "html"}, call_id="call_html"),
        tool_call_reply("testing__hostile", {"kind": "link"}, call_id="call_link"),
        text_reply("The tools said: ", echoed, delay=0.05),
    )

    chat.send("fetch the report")
    reply = chat.last_assistant()
    expect(reply).to_have_attribute("data-status", "complete")
    chat.expect_reply_done()

    expect(chat.tool_cards).to_have_count(3)
    for index, kind in enumerate(("image", "html", "link")):
        card = chat.tool_cards.nth(index)
        expect(card).to_have_attribute("data-state", "done")
        expect(card.locator(".tool-result")).to_have_text(HOSTILE_RESULTS[kind])  # shown as the text it is
    hostile = "img, svg, script, iframe, [onerror], [onload], a[href^='javascript:' i], [src*='exfil' i]"
    expect(chat.log.locator(hostile)).to_have_count(0)
    body = chat.body(reply)
    expect(body).to_contain_text("The tools said:")
    expect(body).to_contain_text("<svg onload=")  # the markup is visible as text, not parsed
    expect(body.get_by_role("link", name="read more")).to_have_count(0)

    assert chat.page.evaluate("() => window.__pwned") is None, "hostile tool output ran script"
    assert watch.dialogs == [], f"a dialog opened: {watch.dialogs}"
    assert watch.outside == [], f"requests left for {OUTSIDE_HOST}: {watch.outside}"
    assert chat.page.evaluate("() => window.__cspViolations") == [], "the page itself tried something the policy refuses"

    card = chat.tool_cards.first  # still usable: it folds and unfolds
    toggle = card.get_by_role("button", name="Hostile")
    toggle.click()
    expect(card.locator(".tool-result")).to_be_hidden()
    toggle.click()
    expect(card.locator(".tool-result")).to_be_visible()


def test_the_policy_would_block_an_outside_image_that_slipped_through(chat: ChatPage, fake_llm) -> None:
    """The second line of defence: were the sanitizer ever to let an image through, the CSP stops the fetch."""
    watch = _open(chat)
    fake_llm.script(tool_call_reply("testing__hostile", {"kind": "image"}, call_id="call_image"), text_reply("Done."))
    chat.send("chart please")
    expect(chat.tool_cards.first).to_have_attribute("data-state", "done")
    chat.expect_reply_done()

    with chat.page.expect_event("requestfailed") as failed:
        chat.page.evaluate(
            "(url) => { const img = document.createElement('img'); img.src = url; document.body.appendChild(img); }",
            EXFIL_URL,
        )

    # Chromium reports the attempt as a request, then fails it ("csp") before anything leaves the machine.
    assert (failed.value.url, failed.value.failure) == (EXFIL_URL, "csp")
    assert watch.outside == [EXFIL_URL], watch.outside
    chat.page.wait_for_function("() => window.__cspViolations.length > 0")
    assert chat.page.evaluate("() => window.__cspViolations") == [f"img-src {EXFIL_URL}"]


def test_a_one_megabyte_result_is_cut_and_marked_in_its_card_and_stored_as_the_model_got_it(
    chat: ChatPage, fake_llm
) -> None:
    huge = HOSTILE_RESULTS["huge"]
    fake_llm.script(tool_call_reply("testing__hostile", {"kind": "huge"}, call_id="call_huge"), text_reply("Long one."))

    chat.send("get everything")
    chat.expect_reply_done()
    expect(chat.body(chat.last_assistant())).to_have_text("Long one.")

    stored = Message.objects.get(role=Message.Role.TOOL).content
    assert stored == truncate(huge, MCP_MAX_RESULT_CHARS), "the stored result is not the one the model was given"
    assert fake_llm.requests[1].messages[-1]["content"] == stored

    card = chat.tool_cards.first
    expect(card).to_have_attribute("data-state", "done")
    result = card.locator(".tool-result")
    expect(result).to_have_text(stored[:CARD_RESULT_CHARS])
    more = len(stored) - CARD_RESULT_CHARS
    expect(card.get_by_text(f"… ({more:,} characters more)")).to_be_visible()
    expect(chat.composer).to_be_editable()  # the page still answers

    card.get_by_role("button", name="Show all").click()
    expect(result).to_have_text(stored)
    expect(card.get_by_text("characters more")).to_have_count(0)

    chat.page.reload()  # a replayed card is cut the same way
    chat.expect_connected()
    expect(chat.tool_cards.first.locator(".tool-result")).to_have_text(stored[:CARD_RESULT_CHARS])
    expect(chat.tool_cards.first.get_by_text(f"… ({more:,} characters more)")).to_be_visible()
