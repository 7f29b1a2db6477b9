"""Errors that never reach an API operation (an unknown path, a method not allowed, a server error) as problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from chat.api.errors import PROBLEM_JSON, Problem, problem_response

API_PREFIX = "/api/v1/"
DETAILS = {404: "No such resource.", 405: "Method not allowed here.", 500: "Internal error; it has been logged."}


def _fix(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if (
        request.path.startswith(API_PREFIX)
        and response.status_code >= 400
        and not response.get("Content-Type", "").startswith(PROBLEM_JSON)
    ):
        problem = Problem(response.status_code, DETAILS.get(response.status_code, "The request failed."))
        fixed = problem_response(problem)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                fixed[header] = response[header]
        return fixed
    return response


class ProblemMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        return _fix(request, self.get_response(request))  # type: ignore[arg-type]

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return _fix(request, await self.get_response(request))  # type: ignore[misc]
