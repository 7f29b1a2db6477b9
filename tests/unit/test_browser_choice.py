"""Which Chromium the browser suite launches (playwright.config.py): a headless run takes the system's headless
shell where it is installed, a headed one the full browser, and CHROMIUM_PATH wins over both."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from e2e.browser_setup import CONFIG


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Where this machine's two system browsers would be, neither installed yet; nothing else on PATH."""
    paths = {"full": tmp_path / "chromium", "shell": tmp_path / "chromium-headless-shell"}
    monkeypatch.setattr(CONFIG, "SYSTEM_CHROMIUM", str(paths["full"]))
    monkeypatch.setattr(CONFIG, "SYSTEM_HEADLESS_SHELL", str(paths["shell"]))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    return paths


def _settings(chromium_path: str = "") -> object:
    return dataclasses.replace(CONFIG.BrowserSettings(), chromium_path=chromium_path)


def test_a_headless_run_takes_the_headless_shell_and_a_headed_one_the_full_browser(system):
    for path in system.values():
        path.touch()
    assert CONFIG.chromium_executable(_settings(), None, headless=True) == str(system["shell"])
    assert CONFIG.chromium_executable(_settings(), None, headless=False) == str(system["full"])


def test_without_the_shell_a_headless_run_takes_the_full_browser(system):
    system["full"].touch()
    assert CONFIG.chromium_executable(_settings(), None, headless=True) == str(system["full"])


def test_chromium_path_wins_in_both_modes_and_a_missing_one_is_named(system, tmp_path: Path):
    for path in system.values():
        path.touch()
    mine = tmp_path / "my-chromium"
    mine.touch()
    for headless in (True, False):
        assert CONFIG.chromium_executable(_settings(str(mine)), None, headless=headless) == str(mine)
    with pytest.raises(RuntimeError, match="CHROMIUM_PATH=/nowhere/chromium does not exist"):
        CONFIG.chromium_executable(_settings("/nowhere/chromium"), None, headless=True)


def test_with_no_system_browser_playwrights_own_is_used_and_with_none_at_all_each_place_is_named(system, tmp_path: Path):
    bundled = tmp_path / "playwright-chromium"
    bundled.touch()
    assert CONFIG.chromium_executable(_settings(), str(bundled), headless=True) is None  # Playwright's default
    with pytest.raises(RuntimeError, match=r"1\) CHROMIUM_PATH .* 2\) the system Chromium .* 3\) Playwright's own"):
        CONFIG.chromium_executable(_settings(), str(tmp_path / "absent"), headless=True)
