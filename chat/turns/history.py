"""What the model sees: the stored conversation as provider-neutral messages."""

from __future__ import annotations

from django.conf import settings

from chat import selectors
from chat.llm.base import ChatMessage, ToolCallData
from chat.models import Message

STOPPED_CALL_RESULT = "No result: the reply was stopped before this call ran."


def build_history(conversation_id: int) -> list[ChatMessage]:
    """Every tool call the model made is answered, even one that was stopped before it ran."""
    history = [ChatMessage(role="system", content=settings.CHAT_SYSTEM_PROMPT)]
    unanswered: list[ToolCallData] = []
    for message in selectors.message_list(conversation_id=conversation_id):
        if message.role != Message.Role.TOOL:
            history.extend(_unanswered_results(unanswered))
            unanswered = []
        if message.role == Message.Role.ASSISTANT:
            if message.status == Message.Status.STREAMING or (not message.content and not message.tool_calls):
                continue
            unanswered = [ToolCallData(c["id"], c["name"], c["arguments"]) for c in message.tool_calls]
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


def _unanswered_results(calls: list[ToolCallData]) -> list[ChatMessage]:
    return [
        ChatMessage(role="tool", content=STOPPED_CALL_RESULT, tool_call_id=call.id, tool_name=call.name, is_error=True)
        for call in calls
    ]
