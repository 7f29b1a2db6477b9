"""Personas: a named system prompt with a provider, model, temperature and tools. Built-in ones are read-only."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from chat import selectors, services
from chat.api.errors import Problem
from chat.api.schemas import PersonaIn, PersonaOut, PersonaPatch
from chat.models import Persona

router = Router(tags=["personas"])


def invalid(exc: services.Invalid) -> Problem:
    """A services.Invalid as the 422 a request body's field error is."""
    return Problem(422, exc.message, errors=[{"field": f"body.{exc.field}", "message": exc.message, "type": "invalid"}])


@database_sync_to_async
def _list(user: Any) -> list[Persona]:
    services.personas_ensure_builtin()
    return list(selectors.persona_list(owner=user))


async def _usable(user: Any, persona_id: int) -> Persona:
    persona = await database_sync_to_async(selectors.persona_get_usable)(owner=user, persona_id=persona_id)
    if persona is None:
        raise Problem(404, "No such persona.")
    return persona


async def _own(user: Any, persona_id: int) -> Persona:
    persona = await _usable(user, persona_id)
    if persona.builtin:
        raise Problem(403, "Built-in personas cannot be changed; create one of your own.", code="builtin")
    return persona


@router.get("", response=list[PersonaOut], summary="Personas you can use: the built-in ones, then yours")
async def list_personas(request: HttpRequest) -> list[Persona]:
    return await _list(request.auth)


@router.post("", response={201: PersonaOut}, summary="Create a persona")
async def create_persona(request: HttpRequest, body: PersonaIn) -> Status[Persona]:
    try:
        persona = await database_sync_to_async(services.persona_create)(owner=request.auth, **body.model_dump())
    except services.Invalid as exc:
        raise invalid(exc) from None
    return Status(201, persona)


@router.get("/{int:persona_id}", response=PersonaOut, summary="One persona")
async def get_persona(request: HttpRequest, persona_id: int) -> Persona:
    return await _usable(request.auth, persona_id)


@router.patch("/{int:persona_id}", response=PersonaOut, summary="Change a persona (conversations already started keep theirs)")
async def update_persona(request: HttpRequest, persona_id: int, body: PersonaPatch) -> Persona:
    await _own(request.auth, persona_id)
    try:
        persona = await database_sync_to_async(services.persona_update)(
            owner=request.auth, persona_id=persona_id, **body.model_dump(exclude_unset=True)
        )
    except services.Invalid as exc:
        raise invalid(exc) from None
    if persona is None:
        raise Problem(404, "No such persona.")
    return persona


@router.delete("/{int:persona_id}", response={204: None}, summary="Delete a persona (conversations keep their copy)")
async def delete_persona(request: HttpRequest, persona_id: int) -> HttpResponse:
    await _own(request.auth, persona_id)
    if not await database_sync_to_async(services.persona_delete)(owner=request.auth, persona_id=persona_id):
        raise Problem(404, "No such persona.")
    return HttpResponse(status=204)
