"""The browser half of the e2e wiring: playwright.config.py's settings as pytest-playwright's option defaults,
the Chromium to launch, and the cheaper failure artifacts (e2e/artifacts.py).

Kept apart from e2e/conftest.py (the live site) and free of Django, so a run with no site can use it too:
e2e/test_failure_artifacts.py's nested run loads only this.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import pytest

from e2e import artifacts
from tests.support.daphne import ROOT  # Django-free at import, like this module


def _load_settings() -> Any:
    spec = importlib.util.spec_from_file_location("playwright_config", ROOT / "playwright.config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


CONFIG = _load_settings()
SETTINGS = CONFIG.SETTINGS


def _given(config: pytest.Config, flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in config.invocation_params.args)


def pytest_configure(config: pytest.Config) -> None:
    artifacts.install(trace_screenshots=SETTINGS.trace_screenshots)  # failure artifacts without a PNG and a screencast for every passing test
    # pytest-playwright's own base_url fallback trips this pytest deprecation; nothing of ours does.
    config.addinivalue_line("filterwarnings", "ignore:Session-scoped fixtures defined as instance methods")
    defaults = {
        "--tracing": ("tracing", SETTINGS.trace),
        "--screenshot": ("screenshot", SETTINGS.screenshot),
        "--video": ("video", SETTINGS.video),
        "--output": ("output", SETTINGS.output),
        "--slowmo": ("slowmo", SETTINGS.slow_mo_ms),
        "--base-url": ("base_url", SETTINGS.base_url or None),
    }
    for flag, (dest, value) in defaults.items():
        if not _given(config, flag) and hasattr(config.option, dest) and value is not None:
            setattr(config.option, dest, value)
    if not _given(config, "--browser") and hasattr(config.option, "browser") and not config.option.browser:
        config.option.browser = [SETTINGS.browser]


def pytest_xvfb_disable(config: pytest.Config) -> bool:
    """A virtual display only for a headed run on a machine without one."""
    headed = bool(config.getoption("--headed", default=False)) or not SETTINGS.headless
    return not (headed and not os.environ.get("DISPLAY"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, playwright: Any, pytestconfig: pytest.Config) -> dict:
    args = {**browser_type_launch_args}
    if not pytestconfig.getoption("--headed"):
        args["headless"] = SETTINGS.headless
    if pytestconfig.getoption("--browser-channel"):
        return args
    try:
        executable = CONFIG.chromium_executable(SETTINGS, playwright.chromium.executable_path, headless=args.get("headless", True))
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from None
    if executable:
        args["executable_path"] = executable
    args["args"] = [*args.get("args", []), *SETTINGS.launch_args]
    return args
