"""The socket's Origin check: scheme, host and port, not the host alone.

channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS and ignores
scheme and port, so a page on the same host but another port (another app, a dev server) could
open the chat socket with the person's cookies. Allowed here: the socket's own origin (scheme of
the connection, its Host header when that host is in ALLOWED_HOSTS) and CSRF_TRUSTED_ORIGINS
(with Django's `https://*.example.com` wildcard form).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, with the default port filled in; None if malformed."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


def _parse(origin: str) -> tuple[str, str, int] | None:
    parts = urlsplit(origin)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return _origin(parts.scheme.lower(), parts.netloc)


def _own_origin(scope: dict[str, Any], headers: dict[bytes, bytes]) -> tuple[str, str, int] | None:
    host = headers.get(b"host", b"").decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme", "ws") in ("wss", "https") else "http"
    return _origin(scheme, host)


def _trusted(origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(entry)
        wildcard = parts.netloc.startswith("*.")
        trusted = _origin(parts.scheme.lower(), parts.netloc[1:] if wildcard else parts.netloc)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if is_same_domain(host, trusted[1]) if wildcard else host == trusted[1]:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", []))
    raw = headers.get(b"origin")
    if raw is None:
        return False
    origin = _parse(raw.decode("latin1"))
    if origin is None:
        return False
    return origin == _own_origin(scope, headers) or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware refusing a WebSocket handshake from any origin but the site's own or a trusted one."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
