"""Every error the API returns is application/problem+json (RFC 9457): type, title, status, detail, code."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from chat.protocol import ClientError, ErrorCode

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:chatsite:problem:"

# The socket's error codes (chat/protocol.py) and the HTTP status each answers with.
STATUS_OF_CODE = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BUSY: 409,
    ErrorCode.NOT_STREAMING: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.INVALID_FRAME: 422,
}
CODE_OF_STATUS = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited", 500: "internal_error",
}


class Problem(Exception):
    """Raised anywhere in an API view; becomes one problem+json response."""

    def __init__(
        self, status: int, detail: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.code = code or CODE_OF_STATUS.get(status, "error")
        self.errors, self.headers = errors, headers or {}


def problem_response(problem: Problem) -> HttpResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.code,
        "title": _title(problem.status),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    response = JsonResponse(body, status=problem.status, content_type=PROBLEM_JSON)
    for name, value in problem.headers.items():
        response[name] = value
    return response


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def from_client_error(exc: ClientError) -> Problem:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return Problem(STATUS_OF_CODE.get(exc.code, 400), exc.message, code=exc.code, headers=headers)


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ninja's validation errors as {field, message, type}; field is dotted: body.text, query.limit, path.id."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc[:2] == ["body", "body"]:  # every operation names its body parameter `body`
            loc = loc[1:]
        message = "unexpected field" if error.get("type") == "extra_forbidden" else str(error.get("msg", "invalid"))
        out.append({"field": ".".join(loc), "message": message, "type": str(error.get("type", "invalid"))})
    return out


def install(api: NinjaAPI) -> None:
    """Replace Ninja's JSON error bodies by problem+json, for every error an operation can raise."""

    def handle(request: HttpRequest, exc: Exception) -> HttpResponse:
        return problem_response(_as_problem(exc))

    for kind in (Exception, Problem, ClientError, ValidationError, HttpError, Http404, RequestDataTooBig):
        api.add_exception_handler(kind, handle)


def _as_problem(exc: Exception) -> Problem:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ClientError):
        return from_client_error(exc)
    if isinstance(exc, ValidationError):
        errors = field_errors(exc.errors)
        return Problem(422, "The request is not valid: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]),
                       errors=errors)
    if isinstance(exc, AuthenticationError):
        return Problem(401, "Log in, or send a personal API token as 'Authorization: Bearer <token>'.",
                       headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if isinstance(exc, HttpError):
        return Problem(exc.status_code, str(exc), code="csrf_failed" if exc.status_code == 403 else None)
    if isinstance(exc, Http404):
        return Problem(404, "Not found.")
    if isinstance(exc, RequestDataTooBig):
        return Problem(413, "The request body is too large.")
    log.error("API request failed", exc_info=exc)
    return Problem(500, "Internal error; it has been logged.")
