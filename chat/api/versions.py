"""Versions and branches: regenerate the last reply, show another version (the socket's message.regenerate and
branch.show, through the same services and turn engine; an edit is a send with `edit_of`, chat/api/messages.py)."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest
from ninja import Router, Status

from chat import frames, ratelimit, selectors, services, turns
from chat.api.errors import Problem
from chat.api.messages import IDEMPOTENCY_KEY, SEND_RESPONSES, announce_to_tabs, answer, refuse_unless_accepted
from chat.api.personas import invalid
from chat.api.schemas import BranchIn, BranchOut
from chat.protocol import ClientId
from chat.services import Outcome

router = Router(tags=["messages"])


@router.post(
    "/conversations/{int:conversation_id}/regenerate", response=SEND_RESPONSES, summary="Write the last reply again",
    description="Answers your last message on the branch shown again. The earlier reply is kept as a version "
                "(its `versions` list both); `message` is the question answered.",
)
async def regenerate(
    request: HttpRequest, conversation_id: int, idempotency_key: ClientId | None = IDEMPOTENCY_KEY,
) -> Status[dict[str, Any]]:
    user = request.auth
    client_id = idempotency_key or "api-" + uuid.uuid4().hex
    await ratelimit.check_message(user, client_id)
    try:
        accepted = await turns.regenerate(
            owner=user, conversation_id=conversation_id, client_id=client_id, announce=announce_to_tabs
        )
    except services.Invalid as exc:
        raise invalid(exc) from None
    refuse_unless_accepted(accepted)
    assert accepted.message is not None
    return await answer(accepted, accepted.message, accepted.reply, False)


@router.post(
    "/conversations/{int:conversation_id}/branch", response=BranchOut, summary="Show another version of a message",
    description="Shows the version at `seq` and, below it, the newest version at every step. 409 while a reply "
                "is being written.",
)
async def show_branch(request: HttpRequest, conversation_id: int, body: BranchIn) -> dict[str, Any]:
    switched = await database_sync_to_async(services.branch_switch)(
        owner=request.auth, conversation_id=conversation_id, seq=body.seq
    )
    if switched.outcome is Outcome.NOT_FOUND:
        raise Problem(404, "No such message in your conversations.")
    if switched.outcome is Outcome.BUSY:
        raise Problem(409, "A reply is still being written in this conversation; switch when it has finished.", code="busy")
    if switched.outcome is Outcome.SHOWN:
        await turns.publish(conversation_id, frames.conversation_branched(conversation_id, switched.after_seq))
    shown = await database_sync_to_async(selectors.shown_seqs)(conversation_id=conversation_id)
    return {"changed": switched.outcome is Outcome.SHOWN, "after_seq": switched.after_seq, "shown_seqs": shown}
