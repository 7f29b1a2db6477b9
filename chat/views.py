from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from chat import selectors
from chat.llm import get_llm


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
    }
    context = {
        "conversations": selectors.conversation_list(owner=request.user),
        "conversation": conversation,
        "chat_config": chat_config,
    }
    return render(request, "chat/chat.html", context)
