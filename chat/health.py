"""Health checks for load balancers and orchestrators: `/healthz` (alive) and `/readyz` (can serve).

`/healthz` does no I/O: it answers while the process's event loop runs. `/readyz` checks the database,
the channel layer and every MCP server concurrently, each under its own bound (READY_CHECK_SECONDS),
so the whole request is bounded too. The site is ready when the database, the channel layer and
every server marked `"required": true` answer; other servers are reported but do not count.

Answers never carry secrets or tracebacks: a failure is one line, with credentials in URLs and the
configured secrets (database password, MCP URLs, headers and env values) replaced by `***`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from chat.tools import get_hub

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 300
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


@login_not_required
@never_cache
@require_safe
async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive: no database, no channel layer, no session."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the channel layer and every required MCP server answer, else 503."""
    checks, ready = await run_checks()
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)


async def run_checks() -> tuple[dict[str, dict[str, Any]], bool]:
    """Every check at once, each bounded; returns the report by name and whether the site is ready."""
    bound = float(settings.READY_CHECK_SECONDS)
    named: dict[str, Callable[[], Awaitable[None]]] = {
        "database": _check_database,
        "channel_layer": _check_channel_layer,
    }
    required = {"database", "channel_layer"}
    try:
        hub = get_hub()
        servers = hub.server_configs()
    except Exception as exc:  # a servers file broken since start-up: report it, as one failing check
        servers = []
        named["mcp"] = _raiser(exc)
        required.add("mcp")
    for config in servers:
        named[f"mcp:{config.name}"] = _pinger(hub, config.name, bound)
        if config.required:
            required.add(f"mcp:{config.name}")
    results = await asyncio.gather(*(_timed(name, check, bound) for name, check in named.items()))
    checks = dict(zip(named, results, strict=True))
    for config in servers:
        checks[f"mcp:{config.name}"]["required"] = config.required
    ready = all(checks[name]["ok"] for name in required)
    return checks, ready


async def _timed(name: str, check: Callable[[], Awaitable[None]], bound: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(bound):
            await check()
    except TimeoutError:
        error = f"timed out after {bound:g} s"
    except Exception as exc:  # every failure is a reason in the report, never a 500
        error = _reason(exc)
    else:
        return {"ok": True, "ms": _ms(started)}
    log.warning("readiness check %s failed: %s", name, error)
    return {"ok": False, "ms": _ms(started), "error": error}


async def _check_database() -> None:
    await database_sync_to_async(_select_one)()


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    if callable(getattr(layer, "ping", None)):  # the Redis layer: a PING through this event loop's connection
        await layer.ping()
        return
    channel = await layer.new_channel("readyz")
    await layer.send(channel, {"type": "readyz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("the channel layer returned a different message")


def _pinger(hub: Any, name: str, bound: float) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await hub.check(name, bound)

    return ping


def _raiser(exc: Exception) -> Callable[[], Awaitable[None]]:
    async def fail() -> None:
        raise exc

    return fail


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _reason(exc: BaseException) -> str:
    """One line naming what failed, without secrets: the innermost error of a group, its type if it says nothing."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split())
    if exc.__class__.__module__.startswith("chat."):
        reason = text or type(exc).__name__  # our own messages (ServerUnavailable) are written to be read
    else:
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return _redact(reason)[:MAX_REASON_CHARS]


def _redact(text: str) -> str:
    for secret in sorted(_configured_secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _configured_secrets() -> set[str]:
    """Values that may appear in an error and must not reach the answer."""
    secrets: set[str] = set()
    for database in settings.DATABASES.values():
        secrets.add(str(database.get("PASSWORD") or ""))
    secrets.add(str(getattr(settings, "REDIS_URL", "") or ""))
    for layer in settings.CHANNEL_LAYERS.values():
        for host in layer.get("CONFIG", {}).get("hosts", []):
            secrets.add(str(host.get("address", "")) if isinstance(host, dict) else str(host))
    try:
        configs = get_hub().server_configs()
    except Exception:
        configs = []
    for config in configs:
        secrets.add(config.url)
        secrets.update(config.headers.values())
        secrets.update(config.env.values())
    return {secret for secret in secrets if len(secret) >= 4}
