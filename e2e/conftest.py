"""The live stack for the browser suite: a real daphne, a scripted fake LLM, Chromium, and a file test database.

Started once per session, reset between tests (database rows, LLM scripts), stopped at the end. The
server's log is attached to the report of every failing test. Settings come from playwright.config.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e import browser_setup
from e2e.browser_setup import SETTINGS, browser_type_launch_args, pytest_xvfb_disable  # noqa: F401 (hooks and fixture)
from tests.support.daphne import ROOT, database_url, server_env, start_daphne
from tests.support.voice import fake_speech_env

FAKE_LLM_KEY_ENV = "E2E_FAKE_LLM_KEY"
# The test MCP server (tests/support/mcp_servers.py "probe", over stdio); its tools are "testing__<tool>".
TEST_MCP_SERVER = "testing"


# --- pytest wiring: the browser's (e2e/browser_setup.py), then the site's ------------------------


def pytest_configure(config: pytest.Config) -> None:
    # Playwright's sync API runs a loop in this thread; Django must allow ORM calls here (never in the server).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    browser_setup.pytest_configure(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test shares the server's database: real commits, flushed after each test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict, site: Site) -> dict:
    return {**browser_context_args, "base_url": site.url, "viewport": SETTINGS.viewport}


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=SETTINGS.expect_timeout_ms)


# --- database: a file the server process can share ---------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give the e2e run its own test database, so it never collides with a `pytest tests` run."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    test = db.setdefault("TEST", {})
    if db["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(tmp_path_factory.mktemp("e2e-db") / "e2e.sqlite3")
    else:
        test["NAME"] = f"test_{db['NAME']}_e2e"


# --- the fake LLM ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[Any]:
    from tests.support.fake_llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_server: Any) -> Iterator[Any]:
    """The scripted OpenAI-compatible server the site talks to; empty at the start of each test."""
    _fake_llm_server.reset()
    yield _fake_llm_server
    _fake_llm_server.reset()


# --- the live server ---------------------------------------------------------------------------


@dataclass
class Site:
    url: str
    log_path: Path | None
    process: subprocess.Popen | None
    mcp_calls_path: Path | None = None
    env: dict[str, str] | None = None  # the server's environment, for tests that start another one like it

    def mcp_calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The calls the test MCP server received, in order (it runs in the server's subprocess)."""
        from tests.support.mcp_servers import read_probe_log

        return read_probe_log(self.mcp_calls_path) if self.mcp_calls_path else []

    def forget_mcp_calls(self) -> None:
        if self.mcp_calls_path is not None:
            self.mcp_calls_path.unlink(missing_ok=True)

    def log_tail(self, start: int = 0) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[start:].decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path and self.log_path.exists() else 0


def _mcp_servers_file(directory: Path) -> Path:
    """An mcpServers config with the MCP layer's recording test server over stdio (beside the built-in one)."""
    from tests.support.mcp_servers import PROBE_LOG_ENV, stdio_config

    # A stdio server gets only the environment its config names, so the call log path goes here.
    calls_log = str(directory / "mcp-calls.jsonl")
    entry = stdio_config(TEST_MCP_SERVER, "probe", env={PROBE_LOG_ENV: calls_log}, confirm=["delete_file"])
    path = directory / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {TEST_MCP_SERVER: entry}}))
    return path


def _server_env(database_url: str, fake_base_url: str, secret_key: str, directory: Path) -> dict[str, str]:
    env = server_env({})
    provider = {
        "name": "fake",
        "family": "openai",
        "base_url": fake_base_url,
        "model": "fake-model",
        "api_key_env": FAKE_LLM_KEY_ENV,
        "read_timeout": 30,
        "max_retries": 0,
        "breaker_failure_threshold": 1000,
    }
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SERVE_STATIC": "true",
            "DATABASE_URL": database_url,
            "LLM_PROVIDERS": json.dumps([provider]),
            FAKE_LLM_KEY_ENV: "e2e-key",
            "CHAT_RATE_LIMIT_MESSAGES": "1000",
            "LOG_LEVEL": "INFO",
            # This daphne must not sweep the dead turn of test_turn_recovery.py, whose own servers share the
            # database: its in-memory layer would tell nobody, and the page, on the other server, would wait
            # on a reply marked interrupted behind its back (seen once in five runs of the suite).
            "CHAT_TURN_SWEEP_SECONDS": "86400",
        }
    )
    env.update(fake_speech_env(fake_base_url))  # voice: the fake's /v1/audio/transcriptions and /v1/audio/speech
    env.pop("LLM_PROVIDERS_FILE", None)
    env["MCP_SERVERS_FILE"] = str(_mcp_servers_file(directory))
    return env


@pytest.fixture(scope="session")
def site(
    pytestconfig: pytest.Config,
    django_db_setup: None,
    django_db_blocker: Any,
    _fake_llm_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    """The site under test: a daphne subprocess on a free port, or the --base-url site when one is given."""
    external = pytestconfig.getoption("--base-url", default=None)
    if external:
        yield Site(external.rstrip("/"), None, None)
        return
    from django.conf import settings
    from django.db import connection

    directory = tmp_path_factory.mktemp("e2e-server")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    env = _server_env(url, _fake_llm_server.base_url, settings.SECRET_KEY, directory)
    server = start_daphne(env, directory, timeout=SETTINGS.server_start_timeout)
    try:
        yield Site(server.url, server.log_path, server.process, directory / "mcp-calls.jsonl", env)
    finally:
        server.stop(grace=3)
        if os.environ.get("E2E_KEEP_LOG"):
            shutil.copy(server.log_path, ROOT / SETTINGS.output / "daphne.log")


@pytest.fixture
def live_stack(site: Site) -> Site:
    """The tests that script the fake LLM or read the database need the stack this suite starts."""
    if site.process is None:
        pytest.skip("runs against --base-url/E2E_BASE_URL: the fake LLM and the database are not the site's")
    return site


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    site = getattr(item, "_e2e_site", None)
    if report.failed and site is not None:
        report.sections.append(
            ("daphne log (this test)", site.log_tail(getattr(item, "_e2e_log_start", 0)) or "(empty)")
        )


def _wait_for_idle_server(timeout: float = 5.0) -> None:
    """Let replies still running in the server end before the rows they write are flushed."""
    from chat.models import Message

    deadline = time.monotonic() + timeout
    streaming = Message.objects.filter(status=Message.Status.STREAMING)
    while streaming.exists():
        if time.monotonic() > deadline:
            left = list(streaming.values_list("conversation_id", "seq", "content"))
            raise AssertionError(f"replies still streaming {timeout} s after the test released the fake LLM: {left}")
        time.sleep(0.05)  # allowed-sleep: polling another process's writes, bounded by the deadline above


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest, site: Site, fake_llm: Any) -> Iterator[None]:
    """Each test starts with empty tables and an empty script, and leaves them so."""
    request.node._e2e_site = site
    request.node._e2e_log_start = site.log_size()
    site.forget_mcp_calls()
    yield
    if site.process is None:
        return
    fake_llm.reset()  # releases held streams, so the server finishes its turns now
    _wait_for_idle_server()
    if not request.node.get_closest_marker("leaves_broken_history"):
        from tests.support.integrity import history_problems

        problems = history_problems()
        assert not problems, "the test left a broken history:\n" + "\n".join(problems)


# --- people and pages --------------------------------------------------------------------------


@pytest.fixture
def make_user(live_stack: Site) -> Callable[..., Any]:
    """Create a person; with a password only when a test logs in through the form (hashing is slow)."""
    from django.contrib.auth import get_user_model

    def make(username: str = "alice", password: str | None = None) -> Any:
        model = get_user_model()
        if password is None:
            user = model(username=username)
            user.set_unusable_password()
            user.save()
            return user
        return model.objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def logged_in_context(live_stack: Site, new_context: Callable[..., Any]) -> Callable[..., Any]:
    """A browser context that starts logged in as `user` (a real session as its storage_state: no login
    form), made by pytest-playwright's `new_context`, so it is traced and closed like any other."""
    from tests.support.login import login

    def make(user: Any, **options: Any) -> Any:
        return new_context(storage_state=login(user).storage_state(live_stack.url), **options)

    return make


@pytest.fixture
def chat(make_user: Callable[..., Any], logged_in_context: Callable[..., Any]) -> Any:
    """A logged-in person ("alice") on an empty chat page, connected. Its page is `chat.page` (the `page`
    fixture would be another context's, not logged in)."""
    from e2e.pages.chat_page import ChatPage

    user = make_user("alice")
    chat_page = ChatPage(logged_in_context(user).new_page())
    chat_page.open()
    chat_page.user = user
    return chat_page
