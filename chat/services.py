"""Writes. Every change to conversations and messages goes through a function here."""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from chat import metrics, personas, selectors
from chat.models import ApiToken, Audio, Conversation, Message, Participant, Persona

TITLE_CHARS = 60
INTERRUPTED = "interrupted: the server restarted"


class Invalid(ValueError):
    """A request names something it may not use (another person's persona, an unknown provider): `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


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


def _add_participants(conversation: Conversation, chosen: list[Persona]) -> None:
    Participant.objects.bulk_create(
        Participant(
            conversation=conversation, persona=persona, position=position, name=persona.name,
            system_prompt=persona.system_prompt, provider=persona.provider, model=persona.model,
            temperature=persona.temperature, tools=persona.tools,
        )
        for position, persona in enumerate(chosen)
    )


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


def _check_persona(owner: Any, persona_id: int | None, fields: dict[str, Any]) -> None:
    from chat.llm.config import provider_names

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


def _next_seq(conversation_id: int) -> int:
    last = Message.objects.filter(conversation_id=conversation_id).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1


def message_create(*, conversation_id: int, role: str, **fields: Any) -> Message:
    """Append a message with the next sequence number; the unique (conversation, seq) guards races."""
    for _ in range(5):
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation_id=conversation_id, seq=_next_seq(conversation_id), role=role, **fields
                )
                Conversation.objects.filter(pk=conversation_id).update(updated_at=timezone.now())
                return message
        except IntegrityError:
            if fields.get("client_id") and Message.objects.filter(
                conversation_id=conversation_id, client_id=fields["client_id"]
            ).exists():
                raise
    raise IntegrityError(f"Could not allocate a sequence number in conversation {conversation_id}")


def message_update(*, message_id: int, **fields: Any) -> datetime:
    """Save fields of a message (content as it grows, final status, usage) in one UPDATE; returns its updated_at."""
    now = timezone.now()
    Message.objects.filter(pk=message_id).update(updated_at=now, **fields)
    return now


def message_contents_save(contents: dict[int, str]) -> None:
    """The interim text of several growing replies, in one transaction: one commit however many."""
    now = timezone.now()
    with transaction.atomic():
        for message_id, content in contents.items():
            Message.objects.filter(pk=message_id).update(content=content, updated_at=now)


class Outcome(enum.StrEnum):
    CREATED = "created"  # stored, and the conversation is claimed for a new reply
    RESENT = "resent"  # this client id was stored before: nothing new starts
    BUSY = "busy"  # another reply holds the conversation's lease
    TOO_MANY_REPLIES = "too_many_replies"  # the person already has their limit of replies being written
    NOT_FOUND = "not_found"  # no such conversation, or not the person's (the same answer)
    DELETED = "deleted"


@dataclass(frozen=True)
class Accepted:
    outcome: Outcome
    conversation: Conversation | None = None
    message: Message | None = None  # the person's message (new or the stored one)
    reply: Message | None = None  # the assistant message the new turn writes into (CREATED only)
    created_conversation: bool = False
    token: str = ""  # the lease the new turn holds (CREATED only)
    speakers: tuple[personas.Speaker, ...] = ()  # who answers, in order (CREATED only); the first writes `reply`


@dataclass(frozen=True)
class AudioFile:
    """A sound to store with a message: a WAV file's bytes and how long it plays."""

    kind: str
    wav: bytes
    duration_ms: int


def _audio_store(conversation_id: int, audio: AudioFile, saved: list[Audio]) -> Audio:
    """Write the file through the storage API and its row; `saved` lists it so a rollback can delete the file."""
    row = Audio(conversation_id=conversation_id, kind=audio.kind, duration_ms=audio.duration_ms, size_bytes=len(audio.wav))
    row.file.save("audio.wav", ContentFile(audio.wav), save=False)
    saved.append(row)
    row.save()
    return row


def _forget_files(saved: list[Audio]) -> None:
    for row in saved:
        row.file.delete(save=False)


def speech_attach(*, message: Message, audio: AudioFile) -> Audio:
    """Store a reply read aloud and link it to the reply; no file is left behind when that fails."""
    saved: list[Audio] = []
    try:
        with transaction.atomic():
            row = _audio_store(message.conversation_id, audio, saved)
            Message.objects.filter(pk=message.pk).update(audio=row)
    except BaseException:
        _forget_files(saved)
        raise
    return row


def message_accept(
    *, owner: AbstractBaseUser, conversation_id: int | None, text: str, client_id: str, token: str, lease_seconds: float,
    max_replies: int = 0, persona_ids: list[int] | None = None, rounds: int = 1, audio: AudioFile | None = None,
) -> Accepted:
    """Store the person's message, claim the conversation for its reply and create that reply, in one transaction.

    The claim is a conditional UPDATE, so two sends at the same instant (on any process) give one
    CREATED and one BUSY. A resent client id is RESENT whatever the conversation is doing. A voice
    message's `audio` (the recording) is stored with it, in the same transaction; a rollback deletes its file.
    """
    saved: list[Audio] = []
    try:
        with transaction.atomic():
            return _accept(
                owner, conversation_id, text, client_id, token, lease_seconds, max_replies, persona_ids, rounds,
                audio, saved,
            )
    except IntegrityError:
        _forget_files(saved)
        # The same client id committed between our look-up and our insert: that is a resend.
        earlier = _earlier(owner, conversation_id, client_id)
        if earlier is None:
            raise
        return Accepted(Outcome.RESENT, earlier.conversation, earlier)
    except BaseException:
        _forget_files(saved)
        raise


def _accept(
    owner: Any, conversation_id: int | None, text: str, client_id: str, token: str, lease: float, max_replies: int,
    persona_ids: list[int] | None, rounds: int, audio: AudioFile | None, saved: list[Audio],
) -> Accepted:
    now = timezone.now()
    until = now + timedelta(seconds=lease)
    if conversation_id is not None and not Conversation.objects.filter(owner=owner, pk=conversation_id).exists():
        return Accepted(Outcome.NOT_FOUND)
    earlier = _earlier(owner, conversation_id, client_id)
    if earlier is not None:
        return Accepted(Outcome.RESENT, earlier.conversation, earlier)
    if not 1 <= rounds <= settings.CHAT_MAX_DISCUSSION_ROUNDS:
        raise Invalid("rounds", f"Rounds must be from 1 to {settings.CHAT_MAX_DISCUSSION_ROUNDS}.")
    if max_replies and _replies_being_written(owner, now) >= max_replies:
        return Accepted(Outcome.TOO_MANY_REPLIES)
    if conversation_id is None:
        chosen = _usable_personas(owner, persona_ids)
        conversation = Conversation.objects.create(
            owner=owner, title=_title_from(text), turn_token=token, turn_lease_until=until
        )
        _add_participants(conversation, chosen)
    else:
        if persona_ids:
            raise Invalid("persona_ids", "Participants are chosen when a conversation starts.")
        free = Q(turn_token="") | Q(turn_lease_until__lt=now)
        if not Conversation.objects.filter(free, pk=conversation_id).update(
            turn_token=token, turn_lease_until=until, updated_at=now
        ):
            earlier = _earlier(owner, conversation_id, client_id)  # it may have committed while we waited
            if earlier is not None:
                return Accepted(Outcome.RESENT, earlier.conversation, earlier)
            return Accepted(Outcome.BUSY)
        _interrupt(conversation_id)  # a lease that expired left its reply streaming
        conversation = Conversation.objects.get(pk=conversation_id)
    recording = _audio_store(conversation.pk, audio, saved) if audio is not None else None
    message = message_create(
        conversation_id=conversation.pk, role=Message.Role.USER, content=text, client_id=client_id, audio=recording
    )
    participants = list(conversation.participants.all())
    if rounds > 1 and len(participants) < 2:
        raise Invalid("rounds", "Rounds of discussion need at least two participants.")
    speakers = personas.schedule(participants, text, rounds)
    reply = message_create(
        conversation_id=conversation.pk, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING,
        participant_id=speakers[0].participant_id, speaker=speakers[0].name,
    )
    return Accepted(Outcome.CREATED, conversation, message, reply, created_conversation=conversation_id is None,
                    token=token, speakers=tuple(speakers))


def _replies_being_written(owner: Any, now: Any) -> int:
    """Live leases of this person's conversations, counted under a lock on the person's row, so two
    sends at once on two processes cannot both take the last place."""
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    return Conversation.objects.filter(owner=owner, turn_lease_until__gte=now).exclude(turn_token="").count()


def _earlier(owner: Any, conversation_id: int | None, client_id: str) -> Message | None:
    return selectors.user_message_sent(owner=owner, conversation_id=conversation_id, client_id=client_id)


def _interrupt(conversation_id: int) -> list[int]:
    """Mark what a dead turn left streaming as failed; returns the ids of those messages."""
    streaming = Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
    ids = list(streaming.values_list("pk", flat=True))
    now, failed = timezone.now(), Message.Status.FAILED
    tools = Message.objects.filter(pk__in=ids, role=Message.Role.TOOL).update(
        status=failed, error=INTERRUPTED, content=INTERRUPTED.capitalize() + ".", is_error=True,
        tool_outcome="interrupted", updated_at=now,
    )
    others = Message.objects.filter(pk__in=ids).exclude(role=Message.Role.TOOL).update(status=failed, error=INTERRUPTED, updated_at=now)
    transaction.on_commit(lambda: metrics.messages_interrupted(tools, others))
    return ids


def turn_lease_renew(*, conversation_id: int, token: str, lease_seconds: float) -> bool:
    """Extend a running turn's lease; False when it is no longer this turn's (it was swept)."""
    until = timezone.now() + timedelta(seconds=lease_seconds)
    return bool(Conversation.objects.filter(pk=conversation_id, turn_token=token).update(turn_lease_until=until))


def turn_lease_release(*, conversation_id: int, token: str) -> None:
    Conversation.objects.filter(pk=conversation_id, turn_token=token).update(turn_token="", turn_lease_until=None)


def turn_sweep(*, conversation_id: int | None = None, alive: Iterable[int] = ()) -> list[int]:
    """Free conversations whose turn's lease expired (its process died), marking their replies interrupted.

    Returns the ids of the messages marked. Streaming messages in a conversation with no lease at all
    (left by a process that died before leases existed) are marked too. `alive` names conversations
    whose turn runs in the calling process: late renewals there are not a death.
    """
    now = timezone.now()
    conversations = Conversation.objects.filter(Q(turn_token="") | Q(turn_lease_until__lt=now)).exclude(pk__in=alive)
    if conversation_id is not None:
        conversations = conversations.filter(pk=conversation_id)
    stale = set(conversations.filter(turn_lease_until__lt=now).values_list("pk", flat=True))
    stale |= set(Message.objects.filter(status=Message.Status.STREAMING, conversation__in=conversations)
                 .values_list("conversation_id", flat=True).distinct())
    marked: list[int] = []
    for pk in sorted(stale):
        with transaction.atomic():  # the conditional UPDATE loses to a turn claiming the conversation now
            free = Q(turn_token="") | Q(turn_lease_until__lt=timezone.now())
            if Conversation.objects.filter(free, pk=pk).update(turn_token="", turn_lease_until=None):
                marked += _interrupt(pk)
    return marked


TOKEN_PREFIX = "chs_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, owner: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new personal API token and its secret, which is returned here once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        owner=owner, name=name, prefix=secret[: ApiToken.PREFIX_CHARS], digest=token_digest(secret)
    )
    return token, secret


def api_token_revoke(*, owner: AbstractBaseUser, token_id: int) -> bool:
    """Revoke one of owner's tokens; False when there is no such token of theirs. Revoking twice is fine."""
    tokens = ApiToken.objects.filter(owner=owner, pk=token_id)
    tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    return tokens.exists()


def api_token_authenticate(*, secret: str) -> AbstractBaseUser | None:
    """The active owner of an unrevoked token, recording its use at most once a minute; None otherwise."""
    token = (
        ApiToken.objects.filter(digest=token_digest(secret), revoked_at__isnull=True, owner__is_active=True)
        .select_related("owner").first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.owner
