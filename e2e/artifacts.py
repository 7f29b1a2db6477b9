"""Cheaper failure artifacts from pytest-playwright (pinned in requirements-dev.txt), keeping what a failure shows.

pytest-playwright 0.10 does two costly things for every browser context of every test, passing or not:
- with `--screenshot only-on-failure` it takes a PNG of each page when the context closes, before it knows
  the outcome, and throws it away when the test passed;
- with `--tracing retain-on-failure` it traces each context with `screenshots=True`: Chromium streams
  screencast frames for the whole test, only for the trace's filmstrip.

Measured on a 2-core machine (docs/testing.md): the two cost 8% of a 20 s subset of the suite (20.3 s with
them, 18.7 s without; 17.6 s with no artifacts at all, the rest being the DOM snapshots we keep). Here a
context closing after a passing call skips the screenshot (a teardown that fails afterwards still keeps its
trace), and traces keep DOM snapshots (the trace viewer renders the page from them), sources and network,
without the filmstrip. `E2E_TRACE_SCREENSHOTS=true` (playwright.config.py) brings the filmstrip back.
"""

from __future__ import annotations

from typing import Any

from pytest_playwright import pytest_playwright as plugin

_trace_screenshots = False


def _call_passed(recorder: Any) -> bool:
    node = recorder._request.node
    call = getattr(node, "rep_call", None)
    return call is not None and call.passed


class _ContextTracing:
    """A context's `tracing`, as the plugin sees it: `start` without screencast frames unless asked."""

    def __init__(self, tracing: Any) -> None:
        self._tracing = tracing

    def start(self, **options: Any) -> None:
        self._tracing.start(**{**options, "screenshots": _trace_screenshots and options.get("screenshots", False)})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracing, name)


class _ContextView:
    """The context the plugin's start hook receives: the real one, with the tracing above."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.tracing = _ContextTracing(context.tracing)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


_did_create = plugin.ArtifactsRecorder.on_did_create_browser_context
_will_close = plugin.ArtifactsRecorder.on_will_close_browser_context


def _on_did_create_browser_context(self: Any, context: Any) -> None:
    _did_create(self, _ContextView(context))


def _on_will_close_browser_context(self: Any, context: Any) -> None:
    config = self._pytestconfig
    if config.getoption("--screenshot") != "only-on-failure" or not _call_passed(self):
        _will_close(self, context)
        return
    screenshot = config.option.screenshot
    config.option.screenshot = "off"  # the plugin reads the option at close; a passing call needs no PNG
    try:
        _will_close(self, context)
    finally:
        config.option.screenshot = screenshot


def install(trace_screenshots: bool) -> None:
    """Called once from e2e/conftest.py's pytest_configure."""
    global _trace_screenshots
    _trace_screenshots = trace_screenshots
    plugin.ArtifactsRecorder.on_did_create_browser_context = _on_did_create_browser_context
    plugin.ArtifactsRecorder.on_will_close_browser_context = _on_will_close_browser_context
