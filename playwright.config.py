"""The one place for browser-test settings; e2e/conftest.py reads it (and scripts/browser_check.py, for the browser). Every value can be set from the environment.

| setting            | environment            | default                  |
|--------------------|------------------------|--------------------------|
| browser            | E2E_BROWSER            | chromium                 |
| executable         | CHROMIUM_PATH          | headless: /usr/bin/chromium-headless-shell, else /usr/bin/chromium, else Playwright's own |
| headless           | E2E_HEADLESS           | true (`--headed` wins)   |
| slow motion, ms    | E2E_SLOW_MO            | 0 (`--slowmo` wins)      |
| viewport           | E2E_VIEWPORT           | 1280x800                 |
| expect timeout, ms | E2E_EXPECT_TIMEOUT_MS  | 5000                     |
| trace              | E2E_TRACE              | retain-on-failure (`--tracing` wins)   |
| trace filmstrip    | E2E_TRACE_SCREENSHOTS  | false: traces keep DOM snapshots, no screencast |
| screenshot         | E2E_SCREENSHOT         | only-on-failure (`--screenshot` wins)  |
| video              | E2E_VIDEO              | off (`--video` wins)     |
| artifacts folder   | E2E_OUTPUT             | test-results (`--output` wins)         |
| base URL           | E2E_BASE_URL           | none: start a live stack (`--base-url` wins) |
| server start, s    | E2E_SERVER_START_TIMEOUT | 30                     |
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CHROMIUM = "/usr/bin/chromium"
# Debian's build of Chromium's "old headless" shell: the browser without its window system, as Playwright itself
# launches for headless runs. On this 2-core machine the browser suite took 100 s with it against 163 s with the
# full Chromium in new-headless mode, back to back (docs/testing.md).
SYSTEM_HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"

# Chromium on a closed network otherwise retries refused connections (QUIC included) and phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _viewport(text: str) -> dict[str, int]:
    width, _, height = text.lower().partition("x")
    return {"width": int(width), "height": int(height)}


@dataclass(frozen=True)
class BrowserSettings:
    browser: str = field(default_factory=lambda: os.environ.get("E2E_BROWSER", "chromium"))
    chromium_path: str = field(default_factory=lambda: os.environ.get("CHROMIUM_PATH", ""))
    headless: bool = field(default_factory=lambda: _env_bool("E2E_HEADLESS", True))
    slow_mo_ms: int = field(default_factory=lambda: int(os.environ.get("E2E_SLOW_MO", "0")))
    viewport: dict[str, int] = field(default_factory=lambda: _viewport(os.environ.get("E2E_VIEWPORT", "1280x800")))
    expect_timeout_ms: int = field(default_factory=lambda: int(os.environ.get("E2E_EXPECT_TIMEOUT_MS", "5000")))
    trace: str = field(default_factory=lambda: os.environ.get("E2E_TRACE", "retain-on-failure"))
    trace_screenshots: bool = field(default_factory=lambda: _env_bool("E2E_TRACE_SCREENSHOTS", False))
    screenshot: str = field(default_factory=lambda: os.environ.get("E2E_SCREENSHOT", "only-on-failure"))
    video: str = field(default_factory=lambda: os.environ.get("E2E_VIDEO", "off"))
    output: str = field(default_factory=lambda: os.environ.get("E2E_OUTPUT", "test-results"))
    base_url: str = field(default_factory=lambda: os.environ.get("E2E_BASE_URL", ""))
    server_start_timeout: float = field(default_factory=lambda: float(os.environ.get("E2E_SERVER_START_TIMEOUT", "30")))
    launch_args: tuple[str, ...] = tuple(CHROMIUM_ARGS)


def _system(path: str, name: str) -> str | None:
    return path if Path(path).is_file() else shutil.which(name)


def chromium_executable(settings: BrowserSettings, playwright_chromium: str | None, *, headless: bool = False) -> str | None:
    """The Chromium to launch: CHROMIUM_PATH, else the system one, else Playwright's own (None = its default).

    A headless launch takes the system's headless shell where it is installed: the same engine, at about
    two thirds of the cost. Playwright's own Chromium makes the same choice by itself.
    Raises RuntimeError naming all three places when none of them holds a browser.
    """
    if settings.chromium_path:
        if not Path(settings.chromium_path).is_file():
            raise RuntimeError(f"CHROMIUM_PATH={settings.chromium_path} does not exist.")
        return settings.chromium_path
    shell = _system(SYSTEM_HEADLESS_SHELL, "chromium-headless-shell") if headless else None
    system = shell or _system(SYSTEM_CHROMIUM, "chromium")
    if system:
        return system
    if playwright_chromium and Path(playwright_chromium).is_file():
        return None
    raise RuntimeError(
        "No Chromium found. Looked at: 1) CHROMIUM_PATH (not set), "
        f"2) the system Chromium ({SYSTEM_CHROMIUM}: missing; install with `apt-get install -y chromium`), "
        f"3) Playwright's own browser ({playwright_chromium or 'none'}: missing; `playwright install chromium`)."
    )


SETTINGS = BrowserSettings()
