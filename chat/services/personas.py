"""Personas: create, update and delete a person's own, their checks, and the built-in ones made on first use.

`personas` here is chat.personas (the built-in list, who answers), not this module.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from chat import personas
from chat.models import Persona
from chat.services.errors import Invalid


def personas_ensure_builtin() -> None:
    """Create the built-in personas that are missing (the first use on a new database, or after a flush)."""
    existing = set(Persona.objects.filter(owner__isnull=True).values_list("name", flat=True))
    for name, prompt in personas.BUILTIN:
        if name not in existing:
            Persona.objects.get_or_create(owner=None, name=name, defaults={"system_prompt": prompt})



PERSONA_FIELDS = ("name", "system_prompt", "provider", "model", "temperature", "tools")



def persona_create(*, owner: AbstractBaseUser, **fields: Any) -> Persona:
    """A new persona of owner's; Invalid when its name is taken or its provider is not configured."""
    _check_persona(owner, None, fields)
    return Persona.objects.create(owner=owner, **{k: fields[k] for k in PERSONA_FIELDS if k in fields})



def persona_update(*, owner: AbstractBaseUser, persona_id: int, **fields: Any) -> Persona | None:
    """owner's persona with these fields changed; None when it is not theirs (built-in ones are nobody's).

    Conversations already started keep the persona as it was (models.Participant).
    """
    persona = Persona.objects.filter(owner=owner, pk=persona_id).first()
    if persona is None:
        return None
    _check_persona(owner, persona_id, fields)
    for key in PERSONA_FIELDS:
        if key in fields:
            setattr(persona, key, fields[key])
    persona.save()
    return persona



def persona_delete(*, owner: AbstractBaseUser, persona_id: int) -> bool:
    """Delete owner's persona; conversations that used it keep their copy. False when not theirs."""
    deleted, _ = Persona.objects.filter(owner=owner, pk=persona_id).delete()
    return bool(deleted)



# A persona always has these; a change may leave them out, but not set them to nothing (null).
REQUIRED_FIELDS = ("name", "system_prompt", "provider", "model")


def _check_persona(owner: Any, persona_id: int | None, fields: dict[str, Any]) -> None:
    from chat.llm.config import provider_names

    for key in REQUIRED_FIELDS:
        if key in fields and fields[key] is None:
            raise Invalid(key, f"{key} cannot be null: leave it out to keep it as it is.")

    name = fields.get("name")
    if name is not None:
        personas_ensure_builtin()
        taken = Persona.objects.filter(Q(owner=owner) | Q(owner__isnull=True), name__iexact=name)
        if taken.exclude(pk=persona_id).exists():
            raise Invalid("name", f"A persona named {name!r} exists already.")
    provider = fields.get("provider")
    if provider and provider not in provider_names():
        configured = ", ".join(provider_names()) or "none: the offline demo model answers"
        raise Invalid("provider", f"No provider named {provider!r} is configured (configured: {configured}).")
