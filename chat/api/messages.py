"""Messages: list and read, send (202, through the same services and turn engine as the socket), stop, confirm."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja import Header, Query, Router, Status
from pydantic import Field

from chat import frames, ratelimit, selectors, services, turns
from chat.api.conversations import owned
from chat.api.errors import Problem
from chat.api.personas import invalid
from chat.api.schemas import AcceptedOut, ConfirmIn, In, MessageOut, MessagePage, SendAnywhereIn, SendIn, SendOut
from chat.models import Message
from chat.protocol import ClientId
from chat.services import Accepted, Outcome

router = Router(tags=["messages"])


class PageQuery(In):
    after_seq: int = Field(default=0, ge=0, le=2**31 - 1, description="Only messages with a higher seq.")
    limit: int = Field(default=50, ge=1, le=200)


@database_sync_to_async
def _page(conversation_id: int, query: PageQuery) -> dict[str, Any]:
    messages = selectors.message_list(conversation_id=conversation_id, after_seq=query.after_seq, limit=query.limit + 1)
    more = len(messages) > query.limit
    items = messages[: query.limit]
    return {"items": items, "next_after_seq": items[-1].seq if more else None}


@router.get("/conversations/{int:conversation_id}/messages", response=MessagePage, summary="Messages in seq order")
async def list_messages(request: HttpRequest, conversation_id: int, query: Query[PageQuery]) -> dict[str, Any]:
    await owned(request.auth, conversation_id)
    return await _page(conversation_id, query)


@router.get("/conversations/{int:conversation_id}/messages/{int:seq}", response=MessageOut, summary="One message")
async def get_message(request: HttpRequest, conversation_id: int, seq: int) -> Message:
    await owned(request.auth, conversation_id)
    message = await database_sync_to_async(selectors.message_get)(conversation_id=conversation_id, seq=seq)
    if message is None:
        raise Problem(404, "No such message.")
    return message


IDEMPOTENCY_HELP = (
    "Your id for this message (1-64 of A-Z a-z 0-9 _ . : -), the socket's client_id. Sending the same key "
    "again answers 200 with the first result and starts nothing; a key of a message in another conversation is "
    "422 client_id_used."
)
SEND_RESPONSES = {202: SendOut, 200: SendOut}
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", description=IDEMPOTENCY_HELP)


@router.post("/conversations/{int:conversation_id}/messages", response=SEND_RESPONSES, summary="Send a message")
async def send_message(
    request: HttpRequest, conversation_id: int, body: SendIn,
    idempotency_key: ClientId | None = IDEMPOTENCY_KEY,
) -> Status[dict[str, Any]]:
    return await _send(request, conversation_id, body.text, idempotency_key, rounds=body.rounds, edit_of=body.edit_of)


@router.post("/messages", response=SEND_RESPONSES, summary="Send a message, into a new conversation by default")
async def send_message_anywhere(
    request: HttpRequest, body: SendAnywhereIn,
    idempotency_key: ClientId | None = IDEMPOTENCY_KEY,
) -> Status[dict[str, Any]]:
    return await _send(
        request, body.conversation_id, body.text, idempotency_key, persona_ids=body.persona_ids, rounds=body.rounds,
        edit_of=body.edit_of,
    )


async def _send(
    request: HttpRequest, conversation_id: int | None, text: str, key: str | None, *,
    persona_ids: list[int] | None = None, rounds: int = 1, edit_of: int | None = None,
) -> Status[dict[str, Any]]:
    user = request.auth
    if not text.strip():
        raise Problem(422, "Message text is empty.", errors=[_text_error("is empty", "empty")])
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise Problem(422, f"Message is longer than {limit} characters.",
                      errors=[_text_error(f"at most {limit} characters", "too_long")])
    client_id = key or "api-" + uuid.uuid4().hex
    await ratelimit.check_message(user, client_id)
    try:
        accepted = await _accept_and_start(user, conversation_id, text, client_id, persona_ids, rounds, edit_of)
    except services.Invalid as exc:
        raise invalid(exc) from None
    refuse_unless_accepted(accepted)
    message, conversation = accepted.message, accepted.conversation
    assert message is not None and conversation is not None
    reply, created = accepted.reply, accepted.created_conversation
    if accepted.outcome is Outcome.RESENT:  # the first answer again: a new conversation's first message created it
        reply = await database_sync_to_async(selectors.reply_to)(message)
        created = conversation_id is None and message.seq == 1
    return await answer(accepted, message, reply, created)


def refuse_unless_accepted(accepted: Accepted) -> None:
    """The problem a send or a regenerate that started nothing (and was no resend) answers."""
    if accepted.outcome is Outcome.NOT_FOUND:
        raise Problem(404, "No such conversation.")
    if accepted.outcome is Outcome.BUSY:
        raise Problem(409, "A reply is still being written in this conversation; stop it or wait.", code="busy")
    if accepted.outcome is Outcome.CLIENT_ID_USED:
        raise Problem(422, services.used_elsewhere("Idempotency-Key", accepted), code="client_id_used")
    if accepted.outcome is Outcome.TOO_MANY_REPLIES:
        limit = settings.CHAT_MAX_CONCURRENT_REPLIES
        raise Problem(429, f"You already have {limit} replies being written; wait for one to finish.",
                      code="too_many_replies")


async def answer(accepted: Accepted, message: Message, reply: Message | None, created: bool) -> Status[dict[str, Any]]:
    """202 for a reply started, 200 for a resend's first result: the person's message as the API shows it."""
    assert accepted.conversation is not None
    shown = await database_sync_to_async(selectors.message_get)(conversation_id=message.conversation_id, seq=message.seq)
    body = {
        "conversation_id": accepted.conversation.pk, "message": shown, "reply_id": reply.pk if reply else None,
        "reply_seq": reply.seq if reply else None, "created_conversation": created,
    }
    return Status(202 if accepted.outcome is Outcome.CREATED else 200, body)


def _text_error(message: str, kind: str) -> dict[str, str]:
    return {"field": "body.text", "message": message, "type": kind}


async def _accept_and_start(
    user: Any, conversation_id: int | None, text: str, client_id: str, persona_ids: list[int] | None, rounds: int,
    edit_of: int | None,
) -> Accepted:
    """What the socket's message.send does (turns.accept): the conversation's tabs are told, the turn starts."""
    return await turns.accept(
        owner=user, conversation_id=conversation_id, text=text, client_id=client_id, announce=announce_to_tabs,
        persona_ids=persona_ids, rounds=rounds, edit_of=edit_of,
    )


async def announce_to_tabs(accepted: Accepted) -> None:
    """The conversation's tabs see a new message, or (an edit, a regenerated reply) the new branch."""
    if accepted.outcome is not Outcome.CREATED:
        return
    assert accepted.conversation is not None and accepted.message is not None
    if accepted.after_seq is not None:
        key = (accepted.reply.client_id if accepted.reply else "") or accepted.message.client_id  # regenerate's, or the edit's
        await turns.publish(accepted.conversation.pk, frames.conversation_branched(
            accepted.conversation.pk, accepted.after_seq, client_id=key,
        ))
    else:
        await turns.publish(accepted.conversation.pk, frames.message_created(accepted.message))


@router.post("/conversations/{int:conversation_id}/stop", response={202: AcceptedOut}, summary="Stop the reply")
async def stop_reply(request: HttpRequest, conversation_id: int) -> Status[dict[str, str]]:
    await owned(request.auth, conversation_id)
    if not await database_sync_to_async(selectors.reply_being_written)(conversation_id=conversation_id):
        raise Problem(409, "Nothing is being written in this conversation.", code="not_streaming")
    await turns.send_control(conversation_id, {"type": "turn.stop"})
    return Status(202, {"detail": "Stopping; the partial reply is kept with status 'stopped'."})


@router.post(
    "/conversations/{int:conversation_id}/confirmations/{call_id}", response={202: AcceptedOut},
    summary="Allow or decline a tool call waiting for your confirmation",
)
async def confirm_tool(request: HttpRequest, conversation_id: int, call_id: str, body: ConfirmIn) -> Status[dict[str, str]]:
    await owned(request.auth, conversation_id)
    if not await database_sync_to_async(selectors.tool_call_exists)(conversation_id=conversation_id, tool_call_id=call_id):
        raise Problem(404, "No such tool call in this conversation.")
    if not await database_sync_to_async(selectors.message_streaming)(conversation_id=conversation_id, tool_call_id=call_id):
        raise Problem(409, "That tool call is not waiting for an answer.", code="not_streaming")
    await turns.send_control(conversation_id, {"type": "turn.confirm", "call_id": call_id, "allow": body.allow})
    return Status(202, {"detail": "Allowed." if body.allow else "Declined."})
