"""A phone: 390×844 with touch, and the checks a phone user would notice (sideways scrolling, controls out of reach)."""

from __future__ import annotations

from playwright.sync_api import Page

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}

# Every rendered control, scrolled into view the way a person scrolls to it: it must then lie within the
# screen's width and be the element a tap on its centre lands on (not covered, not off to the side).
# scrollIntoView also scrolls boxes a person cannot scroll (overflow hidden or clip): those are put back.
_UNREACHABLE_JS = r"""
() => {
  const unscrollable = (value) => value === "hidden" || value === "clip";
  const scrollLikeAPerson = (node) => {
    node.scrollIntoView({ block: "center", inline: "nearest" });
    for (let box = node.parentElement; box; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (unscrollable(style.overflowX)) box.scrollLeft = 0;
      if (unscrollable(style.overflowY)) box.scrollTop = 0;
    }
  };
  const found = [];
  const controls = Array.from(document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), textarea, select, summary, [tabindex]:not([tabindex='-1'])"
  )).filter((node) => node.getClientRects().length > 0 && getComputedStyle(node).visibility !== "hidden");
  for (const node of controls) {
    scrollLikeAPerson(node);
    const box = node.getBoundingClientRect();
    const name = (node.getAttribute("aria-label") || node.textContent || node.id || node.name || node.tagName).trim().slice(0, 40);
    const x = box.left + box.width / 2;
    const y = box.top + box.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (box.left < 0 || box.right > window.innerWidth + 0.5) found.push(`${name}: off the side (${Math.round(box.left)}..${Math.round(box.right)})`);
    else if (!hit || !(node.contains(hit) || hit.contains(node) || (hit.control === node))) found.push(`${name}: covered by ${hit ? hit.tagName + "." + hit.className : "nothing"}`);
  }
  window.scrollTo(0, 0);
  return { count: controls.length, names: controls.map((n) => (n.textContent || n.getAttribute("aria-label") || "").trim()), found };
}
"""


def unreachable_controls(page: Page) -> tuple[list[str], list[str]]:
    """(the names of the controls checked, the problems found)."""
    result = page.evaluate(_UNREACHABLE_JS)
    return result["names"], result["found"]


def sideways_overflow(page: Page) -> int:
    """How many pixels the document scrolls sideways (0 on a page that fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
