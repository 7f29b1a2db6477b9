"""Reads. Every query the consumer, the engine and the views need, with ownership built in."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from chat import branches
from chat.models import ApiToken, Audio, Conversation, Message, Participant, Persona


def conversation_list(*, owner: AbstractBaseUser, query: str = "") -> QuerySet[Conversation]:
    """The person's conversations, newest first; `query` keeps those whose title contains it (any case)."""
    conversations = Conversation.objects.filter(owner=owner).prefetch_related("participants")
    if query:
        conversations = conversations.filter(title__icontains=query)
    return conversations.order_by("-updated_at", "-id")


def conversation_sidebar(*, owner: AbstractBaseUser) -> QuerySet[Conversation]:
    """The person's conversations as the sidebar lists them, each with `writing`: a live turn lease
    (a reply being written, on any process)."""
    live = Q(turn_lease_until__gte=timezone.now()) & ~Q(turn_token="")
    writing = Case(When(live, then=Value(True)), default=Value(False), output_field=BooleanField())
    return Conversation.objects.filter(owner=owner).annotate(writing=writing).order_by("-updated_at", "-id")


def conversation_get_owned(*, owner: AbstractBaseUser, conversation_id: int) -> Conversation | None:
    """The conversation if it exists and belongs to owner; None otherwise (the two look the same)."""
    return Conversation.objects.filter(owner=owner, pk=conversation_id).prefetch_related("participants").first()


def message_get(*, conversation_id: int, seq: int) -> Message | None:
    """Any message of the conversation, shown or an earlier version, with `parent_seq` and `versions` (as the API shows it)."""
    message = Message.objects.filter(conversation_id=conversation_id, seq=seq).annotate(parent_seq=F("parent__seq")).first()
    if message is not None:
        message.versions = branches.versions(conversation_id, [message]).get(seq, [])
    return message


def shown_seqs(*, conversation_id: int) -> list[int]:
    return list(Message.objects.filter(conversation_id=conversation_id, shown=True).order_by("seq").values_list("seq", flat=True))


def reply_to(message: Message) -> Message | None:
    """The assistant message created for a person's message (its first reply; a regenerated one is a later version)."""
    return Message.objects.filter(parent=message, role=Message.Role.ASSISTANT).order_by("seq").first()


def last_question(*, conversation_id: int) -> Message | None:
    """The person's newest message on the branch shown: what a regenerated reply answers."""
    return Message.objects.filter(
        conversation_id=conversation_id, shown=True, role=Message.Role.USER
    ).order_by("-seq").select_related("parent").first()


def message_streaming(*, conversation_id: int, tool_call_id: str | None = None) -> bool:
    """Whether a reply (or, with tool_call_id, that tool call) is still being written in the conversation."""
    messages = Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
    if tool_call_id is not None:
        messages = messages.filter(role=Message.Role.TOOL, tool_call_id=tool_call_id)
    return messages.exists()


def reply_being_written(*, conversation_id: int) -> bool:
    """Whether a stop has something to stop: a reply streaming, or a turn still running (reading its reply aloud)."""
    if message_streaming(conversation_id=conversation_id):
        return True
    live = Q(turn_lease_until__gte=timezone.now()) & ~Q(turn_token="")
    return Conversation.objects.filter(live, pk=conversation_id).exists()


def tool_call_exists(*, conversation_id: int, tool_call_id: str) -> bool:
    return Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.TOOL, tool_call_id=tool_call_id
    ).exists()


def user_message_sent(*, owner: AbstractBaseUser, conversation_id: int | None, client_id: str) -> Message | None:
    """The person's message stored under this client id (in this conversation when one is named): a resend's original."""
    messages = Message.objects.filter(conversation__owner=owner, client_id=client_id, role=Message.Role.USER)
    if conversation_id is not None:
        messages = messages.filter(conversation_id=conversation_id)
    return messages.select_related("conversation").first()


def audio_get_owned(*, owner: AbstractBaseUser, audio_id: int) -> Audio | None:
    """A recording or spoken reply in one of the person's conversations; None for anyone else's (the same answer)."""
    return Audio.objects.filter(pk=audio_id, conversation__owner=owner).first()


def api_token_list(*, owner: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(owner=owner).order_by("-created_at", "-id")


def message_list(
    *, conversation_id: int, after_seq: int = 0, limit: int | None = None, branch: str = "shown"
) -> list[Message]:
    """Messages of the branch shown (branch="all": every version too) with seq > after_seq, in seq order, at most `limit`."""
    messages = Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")
    if branch != "all":
        messages = messages.filter(shown=True)
    found = list((messages if limit is None else messages[:limit]).annotate(parent_seq=F("parent__seq")))
    versions = branches.versions(conversation_id, found)
    for message in found:
        message.versions = versions.get(message.seq, [])
    return found


def message_page(
    *, conversation_id: int, after_seq: int = 0, before_seq: int | None = None, limit: int, max_chars: int
) -> tuple[list[Message], bool]:
    """The newest messages of the branch shown with after_seq < seq < before_seq, at most `limit` and about
    `max_chars` of content (always at least one), in seq order; and whether older ones in that range were left out."""
    messages = Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq, shown=True)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    newest_first = list(messages.order_by("-seq")[: limit + 1])
    page: list[Message] = []
    chars = 0
    for message in newest_first[:limit]:
        chars += len(message.content) + len(str(message.tool_arguments)) + len(str(message.tool_calls))
        if page and chars > max_chars:
            break
        page.append(message)
    return page[::-1], len(page) < len(newest_first)


def persona_list(*, owner: AbstractBaseUser) -> QuerySet[Persona]:
    """The personas a person can use: the built-in ones first, then their own, by name."""
    built_in_first = F("owner_id").asc(nulls_first=True)  # PostgreSQL puts NULLs last by default, SQLite first
    return Persona.objects.filter(Q(owner=owner) | Q(owner__isnull=True)).order_by(built_in_first, "name", "id")


def persona_get_usable(*, owner: AbstractBaseUser, persona_id: int) -> Persona | None:
    """A built-in persona or one of owner's; None for another person's (the same answer as a missing one)."""
    return persona_list(owner=owner).filter(pk=persona_id).first()


def participant_list(*, conversation_id: int) -> list[Participant]:
    return list(Participant.objects.filter(conversation_id=conversation_id).order_by("position"))


PARTICIPANT_COLOURS = 6  # chat.css has .participant-0 … .participant-5


def participants_brief(*, conversation_id: int) -> list[dict[str, object]]:
    """A conversation's participants as frames and pages show them."""
    return participants_shown(participant_list(conversation_id=conversation_id))


def participants_shown(participants: Iterable[Participant]) -> list[dict[str, object]]:
    """Participants already read (a send that made their conversation has them) as frames and pages show them."""
    return [
        {"id": p.pk, "name": p.name, "persona_id": p.persona_id, "colour": p.pk % PARTICIPANT_COLOURS}
        for p in participants
    ]
