"""Move through a page with the Tab key only, as a keyboard user does, checking that focus is visible."""

from __future__ import annotations

from playwright.sync_api import Locator, Page

# The focused element shows a ring: an outline or a box shadow that is not "none".
FOCUS_SHOWN_JS = """() => {
  const node = document.activeElement;
  if (!node || node === document.body) return "";  // Tab left the page for the browser's own controls: it wraps
  const style = getComputedStyle(node);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
  return ring ? "" : `no visible focus on <${node.tagName.toLowerCase()}> ${node.getAttribute("aria-label") || node.textContent.trim().slice(0, 40)}`;
}"""


def tab_to(page: Page, target: Locator, *, most: int = 60, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` has focus, at most `most` times; every stop on the way must show focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(most):
        if target.evaluate("node => node === document.activeElement"):
            return
        page.keyboard.press(key)
        problem = page.evaluate(FOCUS_SHOWN_JS)
        assert not problem, problem
    raise AssertionError(f"{most} presses of {key} never reached {target}")
