"""A conversation as a file: Markdown for people, JSON for programs. The API's export and the page's links use this."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.text import slugify

from chat import selectors
from chat.frames import duration_ms
from chat.models import Conversation, Message
from chat.tools.titles import tool_title

FORMAT = "chatsite-conversation/1"
ROLE_NAMES = {Message.Role.USER: "You", Message.Role.ASSISTANT: "Assistant", Message.Role.TOOL: "Tool"}


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    body: str


def conversation_export(*, owner: AbstractBaseUser, conversation_id: int, fmt: str) -> ExportFile | None:
    """The person's conversation as "md" (the branch shown) or "json" (every stored message, every version, with
    its parent: the whole tree); None when not theirs (or missing)."""
    conversation = selectors.conversation_get_owned(owner=owner, conversation_id=conversation_id)
    if conversation is None:
        return None
    data = export_data(conversation, selectors.message_list(conversation_id=conversation.pk, branch="all"))
    name = f"conversation-{conversation.pk}-{slugify(conversation.title)[:40] or 'untitled'}"
    if fmt == "md":
        return ExportFile(f"{name}.md", "text/markdown; charset=utf-8", to_markdown(data))
    return ExportFile(f"{name}.json", "application/json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def export_data(conversation: Conversation, messages: list[Message]) -> dict[str, Any]:
    """Everything stored, in seq order: each message with its timestamps, its parent and whether it is on the
    branch shown; tool calls and their results."""
    seqs = {message.pk: message.seq for message in messages}
    return {
        "format": FORMAT,
        "exported_at": _time(timezone.now()),
        "conversation": {
            "id": conversation.pk, "title": conversation.title,
            "created_at": _time(conversation.created_at), "updated_at": _time(conversation.updated_at),
        },
        "messages": [_message(message, seqs.get(message.parent_id)) for message in messages],
    }


def _message(message: Message, parent_seq: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "seq": message.seq, "parent_seq": parent_seq, "shown": message.shown,
        "role": message.role, "status": message.status, "content": message.content,
        "error": message.error, "created_at": _time(message.created_at), "updated_at": _time(message.updated_at),
    }
    if message.role == Message.Role.ASSISTANT:
        item.update(provider=message.provider, model=message.model, tool_calls=message.tool_calls, usage=message.usage)
    elif message.role == Message.Role.TOOL:
        item["tool_call"] = {
            "id": message.tool_call_id, "name": message.tool_name, "title": tool_title(message.tool_name),
            "arguments": message.tool_arguments, "result": message.content, "is_error": message.is_error,
            "outcome": message.tool_outcome, "duration_ms": duration_ms(message),
        }
    return item


def to_markdown(data: dict[str, Any]) -> str:
    conversation = data["conversation"]
    lines = [
        f"# {conversation['title'] or 'Untitled conversation'}", "",
        f"Conversation {conversation['id']}, started {conversation['created_at']}, exported {data['exported_at']}.", "",
    ]
    shown = [message for message in data["messages"] if message["shown"]]
    for message in shown:
        lines += _markdown_message(message)
    if len(shown) < len(data["messages"]):
        other = len(data["messages"]) - len(shown)
        lines += ["---", "", f"*The branch shown. {other} message(s) of other versions are in the JSON export.*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_message(message: dict[str, Any]) -> list[str]:
    heading = f"## {ROLE_NAMES.get(message['role'], message['role'])} · {message['created_at']}"
    if message["status"] != Message.Status.COMPLETE:
        heading += f" · {message['status']}"
    call = message.get("tool_call")
    if call is not None:
        duration = f" · {call['duration_ms']} ms" if call["duration_ms"] is not None else ""
        lines = [f"## Tool: {call['title']} (`{call['name']}`) · {message['created_at']}{duration}", ""]
        lines += ["Arguments:", "", *_fenced(json.dumps(call["arguments"], ensure_ascii=False, indent=2), "json"), ""]
        lines += ["Error:" if call["is_error"] else "Result:", "", *_fenced(call["result"]), ""]
        return lines
    lines = [heading, ""]
    if message.get("model"):
        lines += [f"*{message['provider']} · {message['model']}*", ""]
    if message["content"]:
        lines += [message["content"], ""]
    for tool_call in message.get("tool_calls") or []:
        lines += [f"Called `{tool_call['name']}` ({tool_call['id']}).", ""]
    if message["error"]:
        lines += [f"> Error: {message['error']}", ""]
    return lines


def _fenced(text: str, language: str = "") -> list[str]:
    """A code fence longer than any backtick run in the text, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text, fence]
