"""Turn leases: renew and release a running turn's claim on its conversation, and sweep the turns that died."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat import metrics
from chat.models import Conversation, Message

INTERRUPTED = "interrupted: the server restarted"



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



def turn_leases_renew(*, tokens: list[str], lease_seconds: float) -> set[str]:
    """Extend the leases of several running turns in one UPDATE; returns the tokens still held (the others
    were swept or taken over). The SELECT that finds which runs only when some were lost."""
    until = timezone.now() + timedelta(seconds=lease_seconds)
    held = Conversation.objects.filter(turn_token__in=tokens)
    if held.update(turn_lease_until=until) == len(set(tokens)):
        return set(tokens)
    return set(held.values_list("turn_token", flat=True))



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
