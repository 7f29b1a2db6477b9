"""Drive the HTTP API (/api/v1/) as scripts and other services do: a session or a Bearer token, JSON bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from django.test import AsyncClient

from chat import services, turns

API = "/api/v1"
PROBLEM = "application/problem+json"


@database_sync_to_async
def token_for(user: Any, name: str = "script") -> str:
    return services.api_token_create(owner=user, name=name)[1]


class ApiClient(AsyncClient):
    """AsyncClient sending `headers` with every request (AsyncClient's own defaults never reach an ASGI request)."""

    def __init__(self, headers: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.always = headers or {}

    def generic(self, *args: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return super().generic(*args, headers={**self.always, **(headers or {})}, **kwargs)


async def turn_done(conversation_id: int) -> None:
    """Wait (at most 10 s) for the turn writing a reply in the conversation, if one runs."""
    for turn in turns.running_turns():
        if turn.conversation_id == conversation_id and turn.task is not None:
            await asyncio.wait_for(asyncio.shield(turn.task), 10)


async def client_of(user: Any) -> AsyncClient:
    """A client holding a real session of user (CSRF not enforced, as Django's test client does by default)."""
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def bearer_client(user: Any) -> AsyncClient:
    return ApiClient(headers={"Authorization": f"Bearer {await token_for(user)}"})


async def post(client: AsyncClient, path: str, body: Any = None, **headers: str) -> Any:
    return await client.post(API + path, json.dumps(body or {}), content_type="application/json", headers=headers)


async def patch(client: AsyncClient, path: str, body: Any) -> Any:
    return await client.patch(API + path, json.dumps(body), content_type="application/json")


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("urn:chatsite")
    if code is not None:
        assert body["code"] == code, body
    return body
