import math
import re
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from chat import selectors, services, speech
from chat.documents import selectors as document_selectors
from chat.documents import services as document_services
from chat.llm import get_llm
from chat.models import Persona


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
        "documents": {
            "enabled": settings.DOCUMENTS_ENABLED,
            "uploadUrl": reverse("api-v1:create_document"),
            "downloadUrl": reverse("api-v1:download_document", args=[0]),
            "conversationsUrl": reverse("api-v1:create_conversation"),
            "attachUrl": reverse("api-v1:attach_documents", args=[0]),
            "manageUrl": reverse("chat:documents"),
            "maxBytes": settings.DOCUMENTS_MAX_FILE_BYTES,
            "quoteBudget": settings.DOCUMENTS_QUOTE_BUDGET_CHARS,
        },
        "voice": _voice_config(),
    }
    participants = selectors.participants_brief(conversation_id=conversation.pk) if conversation else []
    if conversation is None:
        services.personas_ensure_builtin()
    context = {
        "conversations": selectors.conversation_sidebar(owner=request.user),
        "conversation": conversation,
        "chat_config": chat_config,
        "participants": participants,
        "personas": [] if conversation else selectors.persona_list(owner=request.user),
        "max_rounds": settings.CHAT_MAX_DISCUSSION_ROUNDS,
        "export_formats": [("md", "Markdown"), ("json", "JSON")],
    }
    return render(request, "chat/chat.html", context)


@require_http_methods(["GET", "HEAD"])
def audio_file(request: HttpRequest, audio_id: int) -> FileResponse:
    """A recording or a spoken reply, to its owner only: anyone else's is a 404, like a missing one."""
    audio = selectors.audio_get_owned(owner=request.user, audio_id=audio_id)
    if audio is None:
        raise Http404("No such recording.")
    try:
        handle = audio.file.open("rb")
    except FileNotFoundError:
        raise Http404("The recording's file is missing.") from None
    response = FileResponse(handle, content_type=audio.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _voice_config() -> dict[str, Any]:
    """What the page's microphone and "Speak replies" need to know (docs/protocol.md "Voice messages")."""
    transcriber = speech.get_transcriber()
    return {
        "recogniser": transcriber.label, "offline": bool(transcriber.offline),
        "sampleRate": 16000, "maxSeconds": settings.VOICE_MAX_SECONDS, "maxChunkBytes": settings.VOICE_MAX_CHUNK_BYTES,
        "speakNote": speech.tts_unavailable_reason(), "workletUrl": static("chat/recorder-worklet.js"),
    }


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


# --- personas -----------------------------------------------------------------------------------

PERSONA_FORM_FIELDS = ("name", "system_prompt", "provider", "model", "temperature", "tools")


def _persona_fields(post: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The persona form's fields, cleaned, and the errors a person can fix, by field."""
    fields: dict[str, Any] = {
        "name": " ".join(post.get("name", "").split()),
        "system_prompt": post.get("system_prompt", "").strip(),
        "provider": post.get("provider", "").strip(),
        "model": post.get("model", "").strip(),
    }
    errors: dict[str, str] = {}
    if not re.fullmatch(Persona.NAME_PATTERN, fields["name"]):
        errors["name"] = "Give it a name of up to 40 letters, digits, spaces, . ' or -, starting with a letter or digit."
    if not fields["system_prompt"] or len(fields["system_prompt"]) > 8000:
        errors["system_prompt"] = "Write its system prompt (up to 8,000 characters)."
    if any("\x00" in value for value in fields.values()):
        errors["name"] = "Text may not contain NUL characters."
    tools = [name.strip() for name in post.get("tools", "").split(",") if name.strip()]
    fields["tools"] = tools or None  # none named: every tool
    if len(tools) > 200 or any(len(name) > 200 for name in tools):
        errors["tools"] = "At most 200 tool names of up to 200 characters each."
    temperature = post.get("temperature", "").strip()
    try:
        fields["temperature"] = float(temperature) if temperature else None
        if fields["temperature"] is not None and not 0 <= fields["temperature"] <= 2:
            raise ValueError
    except ValueError:
        errors["temperature"] = "A temperature from 0 to 2, or empty for the provider's default."
    return fields, errors


def _personas_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    services.personas_ensure_builtin()
    return {"personas": selectors.persona_list(owner=request.user), **_providers(), **extra}


@never_cache
@require_http_methods(["GET", "POST"])
def personas_page(request: HttpRequest) -> HttpResponse:
    """The personas a person can use; a POST creates one of theirs."""
    if request.method == "GET":
        return render(request, "chat/personas.html", _personas_context(request, form={}))
    fields, errors = _persona_fields(request.POST)
    if not errors:
        try:
            services.persona_create(owner=request.user, **fields)
        except services.Invalid as exc:
            errors[exc.field] = exc.message
    if errors:
        return render(request, "chat/personas.html", _personas_context(request, form=fields, errors=errors), status=400)
    return redirect("chat:personas")


@never_cache
@require_http_methods(["GET", "POST"])
def persona_edit(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = selectors.persona_get_usable(owner=request.user, persona_id=persona_id)
    if persona is None or persona.builtin:
        raise Http404("No such persona of yours.")
    if request.method == "GET":
        form = {field: getattr(persona, field) for field in PERSONA_FORM_FIELDS}
        return render(request, "chat/persona_edit.html", {"persona": persona, "form": form, **_providers()})
    fields, errors = _persona_fields(request.POST)
    if not errors:
        try:
            services.persona_update(owner=request.user, persona_id=persona_id, **fields)
        except services.Invalid as exc:
            errors[exc.field] = exc.message
    if errors:
        context = {"persona": persona, "form": fields, "errors": errors, **_providers()}
        return render(request, "chat/persona_edit.html", context, status=400)
    return redirect("chat:personas")


def _providers() -> dict[str, Any]:
    from chat.llm.config import provider_names

    return {"providers": provider_names()}


@require_POST
def persona_delete(request: HttpRequest, persona_id: int) -> HttpResponse:
    if not services.persona_delete(owner=request.user, persona_id=persona_id):
        raise Http404("No such persona of yours.")
    return redirect("chat:personas")


@never_cache
def documents_page(request: HttpRequest) -> HttpResponse:
    """The person's documents: what each takes, where it is used, download and delete (docs/documents.md)."""
    from django.db.models import Count, Sum

    owned = document_selectors.document_list(owner=request.user)
    used = owned.aggregate(total=Sum("size"))["total"] or 0
    documents = list(owned.annotate(used_in=Count("conversations")))
    for document in documents:
        document.download_url = reverse("api-v1:download_document", args=[document.pk])  # the owner-checking view
    return render(request, "chat/documents.html", {
        "documents": documents, "used": used, "limit": settings.DOCUMENTS_MAX_TOTAL_BYTES,
    })


@require_POST
def document_delete(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document_services.document_delete(owner=request.user, document_id=document_id)
    except document_services.NotFound:
        raise Http404("No such document of yours.") from None
    return redirect("chat:documents")
