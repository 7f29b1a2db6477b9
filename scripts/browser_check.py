"""Exit 0 when the browser suite has a Chromium to launch (playwright.config.py decides which)."""

import importlib.util
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "playwright.config.py"


def main() -> int:
    spec = importlib.util.spec_from_file_location("playwright_config", CONFIG)
    config = importlib.util.module_from_spec(spec)
    sys.modules["playwright_config"] = config  # dataclasses look their module up while being built
    spec.loader.exec_module(config)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            bundled = playwright.chromium.executable_path
    except Exception:
        bundled = None
    try:
        found = config.chromium_executable(config.SETTINGS, bundled)
        headless = config.chromium_executable(config.SETTINGS, bundled, headless=True)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Browser for the e2e suite: {headless or bundled} (headless), {found or bundled} (--headed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
