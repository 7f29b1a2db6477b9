"""The HTTP API at /api/v1/ (Django Ninja): the same services, selectors and turn engine as the socket.

    auth.py           Bearer tokens and the session with CSRF; API write rate limit
    errors.py         problem+json for every error
    middleware.py     problem+json for errors no operation sees (unknown path, 405, 500)
    conversations.py  messages.py  personas.py  tokens.py  meta.py   the resources
    documents.py      uploads, downloads, and a conversation's documents and mode
    events.py         a conversation as Server-Sent Events (chat/sse.py)
    schemas.py        bodies
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django.views.decorators.cache import never_cache
from ninja import NinjaAPI

from chat.api import conversations, documents, errors, events, messages, meta, personas, search, tokens, versions
from chat.api.auth import AUTH
from chat.api.schemas import ProblemOut

PROBLEM_RESPONSES = {
    "400": "The body is not JSON.",
    "401": "Not logged in and no valid token.",
    "403": "A session request without its CSRF token, or a change to a built-in persona.",
    "404": "No such object, or not yours (the same answer).",
    "409": "A reply is being written, or nothing is.",
    "413": "The body or the message text is too large.",
    "422": "The request does not validate; `errors` lists the fields.",
    "429": "Over a rate limit; `Retry-After` says when to retry.",
}


class ChatAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Ninja's schema, plus the problem+json answers every operation may give (errors.py)."""
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = ProblemOut.model_json_schema()
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                operation["responses"] = {str(code): answer for code, answer in operation["responses"].items()}
                codes = ["401", "422"]
                if method != "get":
                    codes += ["400", "403", "413", "429"]
                sends = method == "post" and path.endswith("/messages")
                if "{" in path or sends:
                    codes.append("404")
                if sends or (method in {"post", "delete"} and "conversations/{" in path):
                    codes.append("409")
                for code in codes:
                    operation["responses"].setdefault(code, {"description": PROBLEM_RESPONSES[code], "content": problem})
        return schema


api = ChatAPI(
    title="chatsite API", version="1", urls_namespace="api-v1", auth=AUTH, docs_url=None,
    description="Conversations, messages and replies over HTTP: the same engine as the chat page's socket. "
                "See docs/api.md.",
)
errors.install(api)
api.add_router("/conversations", conversations.router)
api.add_router("/", messages.router)
api.add_router("/", versions.router)
api.add_router("/", events.router)
api.add_router("/tokens", tokens.router)
api.add_router("/personas", personas.router)
api.add_router("/", meta.router)
api.add_router("/", search.router)
api.add_router("/", documents.router)


def urlpatterns() -> list[URLPattern]:
    """The API's URLs; they answer 401 themselves, so the site's login redirect does not apply to them."""
    patterns, _, _ = api.urls
    for pattern in patterns:
        pattern.callback.login_required = False  # type: ignore[union-attr]
    return patterns  # type: ignore[return-value]


@never_cache
def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI over /api/v1/openapi.json, for people logged in to the site."""
    return api.docs.render_page(request, api)
