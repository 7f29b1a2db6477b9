"""What the model sees: the stored conversation as provider-neutral messages, from one participant's seat.

At most the newest CHAT_HISTORY_MAX_MESSAGES messages and about CHAT_HISTORY_MAX_CHARS of their text go:
a long conversation stays within what a model accepts, and each request reads a bounded window of
rows instead of the whole conversation. The system prompt then says earlier messages were left out.

The speaker's own replies and tool calls are its assistant turns. In a multi-AI conversation the
other participants' replies reach it as user turns that start with their name ("Skeptic: ..."),
and their tool calls and results stay theirs.
"""

from __future__ import annotations

from django.conf import settings

from chat import selectors
from chat.documents.context import DocumentContext, document_context
from chat.llm.base import ChatMessage, ToolCall
from chat.models import Message
from chat.personas import Speaker

STOPPED_CALL_RESULT = "No result: the reply was stopped before this call ran."
EARLIER_LEFT_OUT = "(Earlier messages of this conversation are not included here: it is longer than the history sent.)"


def prepare(conversation_id: int, speaker: Speaker | None = None) -> tuple[list[ChatMessage], DocumentContext | None]:
    """The history, and the conversation's documents (their note is in the system prompt), read together."""
    documents = document_context(conversation_id)
    return build_history(conversation_id, speaker, documents), documents


def build_history(
    conversation_id: int, speaker: Speaker | None = None, documents: DocumentContext | None = None
) -> list[ChatMessage]:
    """Every tool call the model made is answered, even one that was stopped before it ran."""
    speaker = speaker or Speaker.default()
    limit = settings.CHAT_HISTORY_MAX_MESSAGES
    # One more than the bound: the reply being written is among the newest and is not sent.
    messages, cut = selectors.message_page(
        conversation_id=conversation_id, limit=limit + 1, max_chars=settings.CHAT_HISTORY_MAX_CHARS
    )
    messages = [m for m in messages if m.status != Message.Status.STREAMING]
    if len(messages) > limit:
        messages, cut = messages[-limit:], True
    while messages and messages[0].role == Message.Role.TOOL:  # a result whose call was left out
        messages = messages[1:]
    system = speaker.instructions() + (f"\n\n{documents.note}" if documents is not None else "")
    if cut:
        system += f"\n\n{EARLIER_LEFT_OUT}"
    history = [ChatMessage(role="system", content=system)]
    unanswered: list[ToolCall] = []
    for message in messages:
        theirs = (
            bool(speaker.others) and message.role != Message.Role.USER and message.participant_id != speaker.participant_id
        )
        if theirs and message.role == Message.Role.TOOL:
            continue
        if message.role != Message.Role.TOOL:
            history.extend(_unanswered_results(unanswered))
            unanswered = []
        if theirs:
            if message.content and message.status != Message.Status.STREAMING:
                history.append(ChatMessage(role="user", content=f"{message.speaker or 'Assistant'}: {message.content}"))
        elif message.role == Message.Role.ASSISTANT:
            if message.status == Message.Status.STREAMING or (not message.content and not message.tool_calls):
                continue
            unanswered = [ToolCall(c["id"], c["name"], c["arguments"]) for c in message.tool_calls]
            history.append(ChatMessage(role="assistant", content=message.content, tool_calls=tuple(unanswered)))
        elif message.role == Message.Role.TOOL:
            unanswered = [call for call in unanswered if call.id != message.tool_call_id]
            history.append(ChatMessage(
                role="tool", content=message.content, tool_call_id=message.tool_call_id,
                tool_name=message.tool_name, is_error=message.is_error,
            ))
        else:
            history.append(ChatMessage(role="user", content=message.content))
    return history + _unanswered_results(unanswered)


def _unanswered_results(calls: list[ToolCall]) -> list[ChatMessage]:
    return [
        ChatMessage(role="tool", content=STOPPED_CALL_RESULT, tool_call_id=call.id, tool_name=call.name, is_error=True)
        for call in calls
    ]
