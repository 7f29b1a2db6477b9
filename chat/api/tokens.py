"""Personal API tokens: list, create (the secret is in that answer only), read, revoke."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from chat import selectors, services
from chat.api.errors import Problem
from chat.api.schemas import TokenCreated, TokenIn, TokenOut
from chat.models import ApiToken

router = Router(tags=["tokens"])


@router.get("", response=list[TokenOut], summary="Your API tokens (revoked ones included)")
async def list_tokens(request: HttpRequest) -> list[ApiToken]:
    return await database_sync_to_async(lambda: list(selectors.api_token_list(owner=request.auth)))()


@router.post("", response={201: TokenCreated}, summary="Create a token; its secret is shown in this answer only")
async def create_token(request: HttpRequest, body: TokenIn) -> Status[dict[str, Any]]:
    token, secret = await database_sync_to_async(services.api_token_create)(owner=request.auth, name=body.name)
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "token": secret})


async def _owned(user: Any, token_id: int) -> ApiToken:
    token = await database_sync_to_async(lambda: selectors.api_token_list(owner=user).filter(pk=token_id).first())()
    if token is None:
        raise Problem(404, "No such token.")
    return token


@router.get("/{int:token_id}", response=TokenOut, summary="One token")
async def get_token(request: HttpRequest, token_id: int) -> ApiToken:
    return await _owned(request.auth, token_id)


@router.delete("/{int:token_id}", response={204: None}, summary="Revoke a token (it is refused from then on)")
async def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if not await database_sync_to_async(services.api_token_revoke)(owner=request.auth, token_id=token_id):
        raise Problem(404, "No such token.")
    return HttpResponse(status=204)
