"""Who is calling: a personal API token (Authorization: Bearer) or the browser's session with CSRF.

Both run in a thread (Ninja calls synchronous auth through sync_to_async), so they may touch the
database and the cache. Every authenticated write also counts against the person's API rate limit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from chat import ratelimit, services

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _admit(request: HttpRequest, user: Any) -> Any:
    if request.method not in SAFE_METHODS:
        ratelimit.check_api_write(user)
    return user


class BearerToken(HttpBearer):
    """A personal API token; needs no CSRF token (a browser never sends it by itself)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = services.api_token_authenticate(secret=token)
        return None if user is None else _admit(request, user)


class SessionWithCsrf(APIKeyCookie):
    """The browser's session; unsafe methods need the CSRF token (X-CSRFToken), as for any form of the site."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None  # anonymous: 401, not a CSRF failure
        self._get_key(request)  # raises HttpError(403) when CSRF fails
        return self.authenticate(request, None)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return _admit(request, request.user)


AUTH = [BearerToken(), SessionWithCsrf()]
