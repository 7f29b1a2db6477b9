"""Records, inside the page, what its live regions would make a screen reader say, in order."""

from __future__ import annotations

from playwright.sync_api import Page

# A live region is any element with aria-live polite/assertive, or a role whose default is live
# (status, log: polite; alert: assertive) and no aria-live="off". Each change of its text, batched
# as the browser batches DOM mutations, is one announcement; emptying a region says nothing.
_INSTALL = r"""
() => {
  window.__announcements = [];
  const IMPLICIT = { status: "polite", log: "polite", alert: "assertive" };
  const politeness = (node) => node.getAttribute("aria-live") || IMPLICIT[node.getAttribute("role")] || "off";
  const regions = Array.from(document.querySelectorAll("[aria-live], [role=status], [role=log], [role=alert]"))
    .filter((node) => politeness(node) !== "off");
  regions.forEach((region) => {
    new MutationObserver(() => {
      const text = region.textContent.replace(/\s+/g, " ").trim();
      if (text && !region.hidden) window.__announcements.push([politeness(region), text]);
    }).observe(region, { subtree: true, childList: true, characterData: true });
  });
  window.__liveRegions = regions.map((node) => node.id || node.className);
}
"""


class AnnouncementRecorder:
    """Install once the page is loaded and connected; `said()` lists (politeness, text) in order."""

    def __init__(self, page: Page) -> None:
        self.page = page
        page.evaluate(_INSTALL)

    def said(self) -> list[tuple[str, str]]:
        return [tuple(item) for item in self.page.evaluate("() => window.__announcements.slice()")]

    def regions(self) -> list[str]:
        return self.page.evaluate("() => window.__liveRegions.slice()")
