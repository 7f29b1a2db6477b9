"""Conversations: create (with their participants, titled after the first message), rename, delete."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat.models import Conversation, Participant, Persona
from chat.services.errors import Invalid
from chat.services.outcomes import Outcome
from chat.services.personas import personas_ensure_builtin

TITLE_CHARS = 60



def conversation_create(
    *, owner: AbstractBaseUser, first_text: str = "", title: str | None = None, persona_ids: list[int] | None = None,
) -> Conversation:
    """A conversation titled `title`, or after its first message's text, with these personas as its participants."""
    with transaction.atomic():
        chosen = _usable_personas(owner, persona_ids)
        conversation = Conversation.objects.create(owner=owner, title=_title_from(first_text) if title is None else title)
        _add_participants(conversation, chosen)
    return conversation



def _usable_personas(owner: Any, persona_ids: list[int] | None) -> list[Persona]:
    """The personas named, in that order, if each is built-in or owner's; Invalid otherwise."""
    if not persona_ids:
        return []
    limit = settings.CHAT_MAX_PARTICIPANTS
    if len(persona_ids) > limit:
        raise Invalid("persona_ids", f"At most {limit} participants in one conversation.")
    if len(set(persona_ids)) != len(persona_ids):
        raise Invalid("persona_ids", "A persona can take part only once.")
    personas_ensure_builtin()
    found = {p.pk: p for p in Persona.objects.filter(Q(owner=owner) | Q(owner__isnull=True), pk__in=persona_ids)}
    missing = [pk for pk in persona_ids if pk not in found]
    if missing:
        raise Invalid("persona_ids", f"No such persona: {missing[0]}.")
    chosen = [found[pk] for pk in persona_ids]
    names = [p.name.casefold() for p in chosen]
    if len(set(names)) != len(names):
        raise Invalid("persona_ids", "Two participants cannot share a name (`@name` must say who is meant).")
    return chosen



def _add_participants(conversation: Conversation, chosen: list[Persona]) -> list[Participant]:
    return Participant.objects.bulk_create(
        Participant(
            conversation=conversation, persona=persona, position=position, name=persona.name,
            system_prompt=persona.system_prompt, provider=persona.provider, model=persona.model,
            temperature=persona.temperature, tools=persona.tools,
        )
        for position, persona in enumerate(chosen)
    )



def conversation_rename(*, owner: AbstractBaseUser, conversation_id: int, title: str) -> Conversation | None:
    """The renamed conversation; None when it does not exist or is not owner's (the same answer)."""
    if not Conversation.objects.filter(owner=owner, pk=conversation_id).update(title=title, updated_at=timezone.now()):
        return None
    return Conversation.objects.prefetch_related("participants").get(pk=conversation_id)



def conversation_delete(*, owner: AbstractBaseUser, conversation_id: int) -> Outcome:
    """Delete a conversation and its messages unless a reply is being written in it (BUSY: stop it first).

    The condition is in the DELETE itself, so a turn claiming the conversation at the same instant wins or loses whole.
    """
    free = Q(turn_token="") | Q(turn_lease_until__lt=timezone.now())
    deleted, _ = Conversation.objects.filter(free, owner=owner, pk=conversation_id).delete()
    if deleted:
        return Outcome.DELETED
    return Outcome.BUSY if Conversation.objects.filter(owner=owner, pk=conversation_id).exists() else Outcome.NOT_FOUND



def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
