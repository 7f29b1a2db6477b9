"""An axe-core audit of the page as it is now, against WCAG 2.1 A and AA (axe-playwright-python).

Known violations live in e2e/accessibility_known.json (rule id -> why it is accepted), so a new
one fails the test that finds it, naming the rule, its impact and the elements.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

KNOWN = Path(__file__).resolve().parent.parent / "accessibility_known.json"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_axe = Axe()


def known_violations() -> dict[str, str]:
    return json.loads(KNOWN.read_text(encoding="utf-8"))


def new_violations(page: Page) -> list[str]:
    """Each WCAG 2.1 A/AA violation on the page that is not listed as known, one readable line each."""
    options: dict[str, Any] = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    results = _axe.run(page, options=options).response
    known = known_violations()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in results["violations"] if v["id"] not in known
    ]
