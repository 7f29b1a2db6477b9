import math
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from chat import selectors, services
from chat.llm import get_llm


@never_cache  # the page lists the person's conversations: no shared or back-button cache may keep it
def chat_page(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    """The chat page, with one of the person's conversations open or none (a new one on first send)."""
    conversation = None
    if conversation_id is not None:
        conversation = selectors.conversation_get_owned(owner=request.user, conversation_id=conversation_id)
        if conversation is None:
            raise Http404("No such conversation.")
    llm = get_llm()
    chat_config = {
        "conversationId": conversation.pk if conversation else None,
        "wsPath": "/ws/chat/",
        "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
        "llm": {"label": getattr(llm, "label", "LLM"), "offline": bool(getattr(llm, "offline", False))},
        "username": request.user.get_username(),
        "conversationUrl": reverse("chat:conversation", args=[0]),
        "exportUrl": reverse("api-v1:export_conversation", args=[0]),
    }
    context = {
        "conversations": selectors.conversation_list(owner=request.user),
        "conversation": conversation,
        "chat_config": chat_config,
        "export_formats": [("md", "Markdown"), ("json", "JSON")],
    }
    return render(request, "chat/chat.html", context)


@never_cache  # shows a new token's secret once: no cache may keep it
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """The person's API tokens; a POST creates one and shows its secret in this answer only."""
    context: dict[str, Any] = {}
    if request.method == "POST":
        name = " ".join(request.POST.get("name", "").split())[:100]
        if name and "\x00" not in name:
            context["new_token"], context["new_secret"] = services.api_token_create(owner=request.user, name=name)
        else:
            context["form_error"] = "Give the token a name."
    context["tokens"] = selectors.api_token_list(owner=request.user)
    return render(request, "chat/tokens.html", context, status=400 if "form_error" in context else 200)


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not services.api_token_revoke(owner=request.user, token_id=token_id):
        raise Http404("No such token.")
    return redirect("chat:tokens")


def login_locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """Called by django-axes instead of the login page once a username + address is locked out."""
    cooloff = settings.AXES_COOLOFF_TIME
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "minutes": math.ceil(cooloff.total_seconds() / 60) if cooloff else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
