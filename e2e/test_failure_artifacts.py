"""What a failing browser test leaves behind, with this suite's settings and e2e/artifacts.py's patch.

A nested pytest run of two page tests (one passes, one fails) in a directory of its own, with this suite's
pytest_configure and browser launch and nothing else (no site: the pages are set_content). The failure must
keep a screenshot and a trace the viewer can replay (DOM snapshots, no screencast unless asked); the pass
must leave nothing. (`E2E_TRACE_SCREENSHOTS=true` bringing the screencast back was checked by hand.)
e2e/artifacts.py replaces two methods of a private pytest-playwright class, so a version
bump that stops calling them shows up here as screencast frames or a missing screenshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.daphne import ROOT

NESTED_CONFTEST = """
from e2e.browser_setup import browser_type_launch_args, pytest_configure  # noqa: F401
"""

NESTED_TESTS = """
def test_passes(page):
    page.set_content("<p id='note'>fine</p>")
    assert page.locator("#note").text_content() == "fine"


def test_fails(page):
    page.set_content("<p id='note'>what the page says</p>")
    page.locator("#note").click()
    assert page.locator("#note").text_content() == "what the test expected"
"""


def _run_nested(directory: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "conftest.py").write_text(NESTED_CONFTEST)
    (directory / "test_pages.py").write_text(NESTED_TESTS)
    output = directory / "artifacts"
    # Only the plugins a browser test needs: the nested run starts in about a second, not in five.
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run_env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pytest.ini", "-p", "pytest_playwright.pytest_playwright",
         "-p", "no:cacheprovider", "-q", "--output", str(output), "test_pages.py"],
        cwd=directory, env=run_env, capture_output=True, text=True, timeout=120,
    )
    return result, output


def _trace_events(trace_zip: Path) -> list[str]:
    with zipfile.ZipFile(trace_zip) as archive:
        lines = [line for name in archive.namelist() if name.endswith(".trace")
                 for line in archive.read(name).decode().splitlines() if line]
    return [json.loads(line).get("type", "") for line in lines]


def _kept(output: Path) -> dict[str, list[str]]:
    return {d.name: sorted(f.name for f in d.iterdir()) for d in output.iterdir()} if output.exists() else {}


def test_a_failure_keeps_a_screenshot_and_a_replayable_trace_and_a_pass_keeps_nothing(tmp_path: Path) -> None:
    result, output = _run_nested(tmp_path)
    assert "1 failed, 1 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    kept = _kept(output)
    assert list(kept) == ["test-pages-py-test-fails-chromium"], kept  # the passing test left nothing
    assert kept["test-pages-py-test-fails-chromium"] == ["test-failed-1.png", "trace.zip"], kept
    events = _trace_events(output / "test-pages-py-test-fails-chromium" / "trace.zip")
    assert events.count("frame-snapshot") >= 2, sorted(set(events))  # the viewer can show the page at each step
    assert "screencast-frame" not in events, "the trace streamed a screencast: e2e/artifacts.py's patch is not in effect"

