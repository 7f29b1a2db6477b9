"""Messages: append one to the shown branch with the next sequence number, and save a reply as it grows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from chat.models import Conversation, Message


def _next_seq(conversation_id: int) -> int:
    last = Message.objects.filter(conversation_id=conversation_id).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1



def first_message_create(*, conversation_id: int, role: str, **fields: Any) -> Message:
    """The first message of a conversation created in the caller's transaction: seq 1, no parent, and no lock
    or read, since nobody sees the conversation before that commit. The caller makes it the leaf (its reply
    `after` it does), so the conversation's row is not updated here."""
    return Message.objects.create(conversation_id=conversation_id, seq=1, role=role, parent_id=None, **fields)



def message_create(*, conversation_id: int, role: str, after: Message | None = None, **fields: Any) -> Message:
    """Append a message to the shown branch, with the next sequence number; it becomes the branch's leaf.

    The conversation's row is locked while its leaf is read (PostgreSQL), and the unique
    (conversation, seq) guards races. `after`: the leaf and the last seq are already known, because
    the caller created that message in this transaction under the conversation's claim (a reply to the
    person's message): no read is needed.
    """
    if after is not None:
        message = Message.objects.create(
            conversation_id=conversation_id, seq=after.seq + 1, role=role, parent_id=after.pk, **fields
        )
        Conversation.objects.filter(pk=conversation_id).update(updated_at=timezone.now(), shown_leaf=message)
        return message
    for _ in range(5):
        try:
            with transaction.atomic():
                leaf = (Conversation.objects.select_for_update().filter(pk=conversation_id)
                        .values_list("shown_leaf_id", flat=True).first())
                message = Message.objects.create(
                    conversation_id=conversation_id, seq=_next_seq(conversation_id), role=role, parent_id=leaf, **fields
                )
                Conversation.objects.filter(pk=conversation_id).update(updated_at=timezone.now(), shown_leaf=message)
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
    """The interim text of several growing replies, in one transaction: one commit however many.

    One parameterised UPDATE run for every row (`executemany`; psycopg sends them in a pipeline), not
    a queryset per row: at 100 concurrent replies the ORM's per-row compile was a tenth of the process.
    """
    if not contents:
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    content, updated_at, pk = (connection.ops.quote_name(Message._meta.get_field(name).column)
                               for name in ("content", "updated_at", "id"))
    now = Message._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {content} = %s, {updated_at} = %s WHERE {pk} = %s",
            [(text, now, message_id) for message_id, text in contents.items()],
        )
