"""A real session for a person, made by Django's login machinery, for clients that skip the login form:
communicator sockets, sockets to a live daphne, and browser contexts (as their `storage_state`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client


@dataclass(frozen=True)
class Session:
    client: Client  # logged in as the person: log out through it to end the session everywhere
    value: str  # the session cookie's value

    @property
    def header(self) -> str:
        """The session as a Cookie header value."""
        return f"{settings.SESSION_COOKIE_NAME}={self.value}"

    def storage_state(self, url: str) -> dict[str, Any]:
        """The session as a Playwright `storage_state`, for the site at url: a browser context made with it
        starts logged in."""
        cookie = {
            "name": settings.SESSION_COOKIE_NAME, "value": self.value, "domain": urlsplit(url).hostname, "path": "/",
            "expires": -1, "httpOnly": settings.SESSION_COOKIE_HTTPONLY, "secure": settings.SESSION_COOKIE_SECURE,
            "sameSite": settings.SESSION_COOKIE_SAMESITE or "None",
        }
        return {"cookies": [cookie], "origins": []}


def login(user: Any) -> Session:
    """Log user in (sync code; wrap in database_sync_to_async from async code)."""
    client = Client()
    client.force_login(user)
    return Session(client, client.cookies[settings.SESSION_COOKIE_NAME].value)
