"""Records, inside the page, every text the newest assistant message shows, to prove how text arrived."""

from __future__ import annotations

from playwright.sync_api import Page

_INSTALL = r"""
() => {
  window.__replyTexts = [];
  const log = document.querySelector('[role="log"]');
  const record = () => {
    const bodies = log.querySelectorAll('[data-testid="message"][data-role="assistant"] .message-body');
    // Trailing whitespace differs between streamed text and the final HTML; it is not content.
    const text = bodies.length ? bodies[bodies.length - 1].textContent.replace(/\s+$/, "") : "";
    const texts = window.__replyTexts;
    if (text && texts[texts.length - 1] !== text) texts.push(text);
  };
  new MutationObserver(record).observe(log, { subtree: true, childList: true, characterData: true });
}
"""


class ReplyRecorder:
    """Install before the reply starts; `texts()` lists each distinct text in the order shown."""

    def __init__(self, page: Page) -> None:
        self.page = page
        page.evaluate(_INSTALL)

    def texts(self) -> list[str]:
        return self.page.evaluate("() => window.__replyTexts.slice()")


_INSTALL_STATES = r"""
() => {
  window.__connectionStates = [];
  const status = document.querySelector('[role="status"]');
  const record = () => {
    const states = window.__connectionStates;
    if (states[states.length - 1] !== status.dataset.state) states.push(status.dataset.state);
  };
  record();
  new MutationObserver(record).observe(status, { attributes: true, attributeFilter: ["data-state"] });
}
"""


class ConnectionRecorder:
    """Every state the connection indicator passes through, however briefly, in order."""

    def __init__(self, page: Page) -> None:
        self.page = page
        page.evaluate(_INSTALL_STATES)

    def states(self) -> list[str]:
        return self.page.evaluate("() => window.__connectionStates.slice()")
