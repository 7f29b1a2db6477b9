"""Read-only facts for pickers and scripts: the configured providers and models, and who is calling."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from chat.api.schemas import MeOut, ProvidersOut
from chat.llm import get_llm
from chat.llm.config import load_providers

router = Router(tags=["account"])


@router.get("/providers", response=ProvidersOut, summary="The configured providers and models, in fallback order")
def providers(request: HttpRequest) -> dict[str, Any]:
    llm = get_llm()
    offline = bool(getattr(llm, "offline", False))
    configured = [{"name": p.name, "family": p.family, "model": p.model} for p in load_providers()]
    if offline:
        configured = [{"name": "demo", "family": "demo", "model": getattr(llm, "model", "offline-demo")}]
    return {"label": getattr(llm, "label", "LLM"), "offline": offline, "providers": configured}


@router.get("/me", response=MeOut, summary="The person the request is authenticated as")
def me(request: HttpRequest) -> dict[str, Any]:
    user = request.auth
    return {"id": user.pk, "username": user.get_username(), "email": getattr(user, "email", "") or ""}
