"""History integrity: what every test in every suite must leave behind in the database.

After each test (autouse in tests/integration and e2e) no message is left streaming, seq runs from 1
with no gap in every conversation, every status is final, every tool call an assistant message made
has exactly one tool message, no two user messages of one person share a client id (a resend that
started a second conversation would), and the conversation is a clean tree whose shown messages are the
path to its shown leaf (chat/branches.py `problems`). A test
that leaves a broken history on purpose says so with `@pytest.mark.leaves_broken_history`.
"""

from __future__ import annotations

from collections import Counter

from chat import branches
from chat.models import Conversation, Message

FINAL = {Message.Status.COMPLETE, Message.Status.STOPPED, Message.Status.FAILED}


def history_problems() -> list[str]:
    """Every violation in the database, each naming its conversation and rows; empty when all is well."""
    problems: list[str] = []
    for conversation in Conversation.objects.order_by("pk"):
        messages = list(Message.objects.filter(conversation=conversation).order_by("seq"))
        found = _problems(messages) + branches.problems(conversation, messages)
        problems += [f"conversation {conversation.pk}: {p}" for p in found]
    sent: dict[tuple[int, str], list[str]] = {}
    for owner, client_id, conversation_id, seq in (
        Message.objects.filter(role=Message.Role.USER).exclude(client_id="")
        .values_list("conversation__owner_id", "client_id", "conversation_id", "seq").order_by("pk")
    ):
        sent.setdefault((owner, client_id), []).append(f"conversation {conversation_id} #{seq}")
    problems += [f"person {owner}: client id {cid!r} on {len(where)} user messages ({', '.join(where)})"
                 for (owner, cid), where in sent.items() if len(where) > 1]
    return problems


def _problems(messages: list[Message]) -> list[str]:
    found: list[str] = []
    seqs = [m.seq for m in messages]
    if seqs != list(range(1, len(seqs) + 1)):
        found.append(f"seq is not contiguous from 1: {seqs[:30]}")
    found += [f"#{m.seq} {m.role} is {m.status!r}, not final" for m in messages if m.status not in FINAL]
    for index, message in enumerate(messages):
        if message.role != Message.Role.ASSISTANT or not message.tool_calls:
            continue
        answers = Counter()
        for later in messages[index + 1:]:
            if later.role != Message.Role.TOOL:
                break
            answers[later.tool_call_id] += 1
        for call in message.tool_calls:
            if answers[call["id"]] != 1:
                found.append(f"#{message.seq} tool call {call['id']} has {answers[call['id']]} tool messages, not 1")
    return found
