"""/healthz and /readyz through the real URL conf and middleware (AsyncClient, no login, no session).

Down dependencies are real: an MCP server URL on a free port where nothing listens, a socket that
accepts but never answers, and a Redis URL on a free port. Every request is bounded by the check
bound (READY_CHECK_SECONDS) and, in the test, by a deadline of its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient

from chat.tools.config import memory_server, parse_servers
from tests.support.mcp_servers import installed_hub, probe_server
from tests.support.ports import free_port

SECRET = "hunter2-do-not-show"
BOUND = 1.0  # READY_CHECK_SECONDS in these tests
SLACK = 2.0  # what a loaded 2-core machine may add to a bounded request


async def get(path: str, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    """GET path anonymously; fails if it takes longer than the checks' bound allows."""
    started = time.monotonic()
    response = await AsyncClient().get(path, **extra)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND + SLACK, f"{path} took {elapsed:.2f} s; every check is bounded by {BOUND:g} s"
    body = json.loads(response.content) if response.status_code in (200, 503) else {}
    return response.status_code, body, response


@pytest.fixture
def bound(settings: Any) -> float:
    settings.READY_CHECK_SECONDS = BOUND
    return BOUND


def unreachable_mcp(name: str, *, required: bool) -> dict[str, Any]:
    """An HTTP MCP server entry on a free loopback port where nothing listens, with secrets in URL and header."""
    url = f"http://ops:{SECRET}@127.0.0.1:{free_port()}/mcp?key={SECRET}"
    entry = {"url": url, "headers": {"Authorization": f"Bearer {SECRET}"}, "required": required}
    return parse_servers({"mcpServers": {name: entry}})


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def assert_no_secret_or_traceback(response: Any) -> None:
    text = response.content.decode()
    assert SECRET not in text and "Traceback" not in text and 'File "' not in text, text


# --- /healthz ---------------------------------------------------------------------------------------


async def test_healthz_answers_ok_without_login_session_or_database(settings: Any) -> None:
    """Not marked django_db: any database access here would raise. HTTPS redirects do not apply to probes."""
    settings.SECURE_SSL_REDIRECT = True
    status, body, response = await get("/healthz")
    assert (status, body) == (200, {"status": "ok"})
    assert response["Content-Type"] == "application/json"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert "no-store" in response["Cache-Control"]
    # The exemptions are for the probes only: the rest of the site still redirects to HTTPS, then to the login.
    assert (await AsyncClient().get("/"))["Location"] == "https://testserver/"
    settings.SECURE_SSL_REDIRECT = False
    assert (await AsyncClient().get("/"))["Location"].startswith("/accounts/login/")


async def test_healthz_refuses_writes() -> None:
    assert (await AsyncClient().post("/healthz")).status_code == 405


# --- /readyz: all up ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_ready_when_the_database_the_layer_and_the_required_server_answer(bound: float) -> None:
    server, _ = probe_server()
    async with installed_hub(extra={"probe": memory_server("probe", server, required=True)}):
        status, body, response = await get("/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"database", "channel_layer", "mcp:builtin", "mcp:probe"}
    assert all(check["ok"] is True and isinstance(check["ms"], float) for check in checks.values()), checks
    assert checks["mcp:probe"]["required"] is True and checks["mcp:builtin"]["required"] is False
    assert response["Content-Type"] == "application/json" and "sessionid" not in response.cookies


# --- /readyz: a required MCP server down ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_readyz_reports_an_unreachable_required_mcp_server_as_not_ready_with_the_reason(bound: float) -> None:
    async with installed_hub(unreachable_mcp("search", required=True)):
        status, body, response = await get("/readyz")
    assert status == 503, body
    assert body["status"] == "not_ready"
    search = body["checks"]["mcp:search"]
    assert search["ok"] is False and search["required"] is True
    assert "cannot reach the server" in search["error"], search
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]
    assert_no_secret_or_traceback(response)


@pytest.mark.django_db(transaction=True)
async def test_readyz_reports_a_required_stdio_server_that_cannot_start(bound: float) -> None:
    configs = parse_servers({"mcpServers": {"files": {"command": "/nonexistent/mcp-files", "required": True}}})
    async with installed_hub(configs):
        status, body, _ = await get("/readyz")
    assert status == 503, body
    assert body["checks"]["mcp:files"] == {
        "ok": False, "ms": body["checks"]["mcp:files"]["ms"], "required": True,
        "error": "cannot start the server: command not found (/nonexistent/mcp-files)",
    }


@pytest.mark.django_db(transaction=True)
async def test_silent_required_servers_are_reported_as_timed_out_all_within_one_bound(bound: float) -> None:
    with silent_listener() as port:
        silent = {"url": f"http://127.0.0.1:{port}/mcp", "required": True}
        async with installed_hub(parse_servers({"mcpServers": {"stuck": silent, "frozen": silent}})):
            started = time.monotonic()
            status, body, _ = await get("/readyz")
            elapsed = time.monotonic() - started
    assert status == 503, body
    for name in ("mcp:stuck", "mcp:frozen"):
        check = body["checks"][name]
        assert check["ok"] is False and check["error"] == f"timed out after {bound:g} s", check
        assert bound * 1000 * 0.9 <= check["ms"] < (bound + SLACK) * 1000
    # Checked at the same time: two silent servers cost one bound, not two.
    assert elapsed < 2 * bound, f"/readyz took {elapsed:.2f} s with two silent servers; the checks must run concurrently"
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]


# --- /readyz: an optional MCP server down ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_down_optional_mcp_server_is_reported_but_the_site_stays_ready(bound: float) -> None:
    async with installed_hub(unreachable_mcp("extras", required=False)):
        status, body, response = await get("/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    extras = body["checks"]["mcp:extras"]
    assert extras["ok"] is False and extras["required"] is False
    assert "cannot reach the server" in extras["error"]
    assert_no_secret_or_traceback(response)


# --- /readyz: Redis missing ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_readyz_reports_a_missing_redis_as_not_ready_with_the_reason_within_its_bound(
    bound: float, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chat.layers.RedisChannelLayer",
            "CONFIG": {"url": f"redis://:{SECRET}@127.0.0.1:{free_port()}/0", "prefix": "readyz"},
        }
    }
    channel_layers.backends.clear()
    layer = get_channel_layer()
    try:
        status, body, response = await get("/readyz")
    finally:
        await layer.close()
        channel_layers.backends.clear()
    assert status == 503, body
    assert body["status"] == "not_ready"
    redis = body["checks"]["channel_layer"]
    assert redis["ok"] is False
    assert "ConnectionError" in redis["error"] or redis["error"] == f"timed out after {bound:g} s", redis
    assert redis["ms"] < (bound + SLACK) * 1000
    assert body["checks"]["database"]["ok"] is True
    assert_no_secret_or_traceback(response)


# --- the config key ---------------------------------------------------------------------------------------


def test_required_is_optional_false_by_default_and_must_be_a_boolean() -> None:
    configs = parse_servers({"mcpServers": {"a": {"url": "http://127.0.0.1:1/mcp"}, "b": {"command": "x", "required": True}}})
    assert (configs["a"].required, configs["b"].required) == (False, True)
    with pytest.raises(ImproperlyConfigured, match="MCP server 'a': field 'required': Input should be a valid boolean"):
        parse_servers({"mcpServers": {"a": {"url": "http://127.0.0.1:1/mcp", "required": "yes"}}})


async def test_a_reason_that_quotes_a_configured_url_or_credential_is_redacted() -> None:
    """Errors from HTTP clients quote URLs ("... for url 'https://…'"); the answer must not carry them."""
    from chat.health import _reason

    configs = unreachable_mcp("search", required=True)
    url = configs["search"].url
    async with installed_hub(configs):
        reasons = [
            _reason(RuntimeError(f"Client error '401 Unauthorized' for url '{url}'")),
            _reason(RuntimeError(f"connection to postgres://chat:pg-{SECRET}@db:5432/chat failed")),
            _reason(ExceptionGroup("wrapped", [OSError(f"header was Bearer {SECRET}")])),
            _reason(RuntimeError("https://someone:other-password@example.com/x refused")),
        ]
    assert reasons == [
        "RuntimeError: Client error '401 Unauthorized' for url '***'",
        "RuntimeError: connection to postgres://***@db:5432/chat failed",
        "OSError: header was ***",
        "RuntimeError: https://***@example.com/x refused",
    ]


async def test_a_readiness_timeout_does_not_stop_a_slow_start_that_a_turn_waits_for() -> None:
    """A turn's listing has a longer deadline than /readyz; the probe giving up must not kill the shared start."""
    with silent_listener() as port:
        configs = parse_servers({"mcpServers": {"slow": {"url": f"http://127.0.0.1:{port}/mcp"}}})
        async with installed_hub(configs, builtin=False) as hub:
            connection = hub._servers()["slow"].connection
            turn_waiting = asyncio.ensure_future(connection.request(lambda client: client.list_tools(), 30))
            try:
                with pytest.raises(TimeoutError):
                    await hub.check("slow", 0.2)
                assert not turn_waiting.done(), "the probe's timeout ended the start the turn was waiting for"
                assert connection.failure == ""
            finally:
                turn_waiting.cancel()
                await asyncio.wait({turn_waiting}, timeout=5)
