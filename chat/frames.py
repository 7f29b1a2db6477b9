"""Server frames built from stored messages: one builder each, shared by live turns and replay."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from chat.models import Message
from chat.rendering import render_markdown
from chat.tools.base import NAME_SEPARATOR
from chat.tools.titles import tool_title


def _base(message: Message, kind: str) -> dict[str, Any]:
    return {"type": kind, "conversation_id": message.conversation_id, "seq": message.seq}


def _by(message: Message) -> dict[str, Any]:
    """Who wrote a reply or ran a tool, in a conversation with personas; nothing otherwise."""
    if message.participant_id is None:
        return {}
    return {"participant": {"id": message.participant_id, "name": message.speaker}}


def audio_url(audio_id: int) -> str:
    """Where the owner plays a recording or a spoken reply back (chat/views.py `audio_file` checks the owner)."""
    return reverse("chat:audio", args=[audio_id])


def _audio(message: Message) -> dict[str, Any]:
    """The message's sound, when it has one (a voice message, a reply read aloud)."""
    return {"audio_url": audio_url(message.audio_id)} if message.audio_id else {}


def assistant_audio(message: Message, error: str = "") -> dict[str, Any]:
    """A completed reply read aloud (`audio_url`), or why it could not be (`error`, and `audio_url` null)."""
    return {
        **_base(message, "assistant.audio"), "audio_url": audio_url(message.audio_id) if message.audio_id else None,
        "error": error,
    }


def participant_typing(conversation_id: int, participant_id: int, name: str) -> dict[str, Any]:
    """A participant is about to answer: sent before its reply starts, so the tab can say "<name> is typing…"."""
    return {"type": "participant.typing", "conversation_id": conversation_id, "participant": {"id": participant_id, "name": name}}


def _versions(versions: list[int] | None) -> dict[str, Any]:
    """The seqs of a message's versions (itself among them), when it has others: the page's `2/3` switcher."""
    return {"versions": versions} if versions else {}


def message_created(message: Message, versions: list[int] | None = None) -> dict[str, Any]:
    return {
        **_base(message, "message.created"),
        **_versions(versions),
        "client_id": message.client_id,
        "role": message.role,
        "text": message.content,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        **_audio(message),
    }


def assistant_started(message: Message, versions: list[int] | None = None) -> dict[str, Any]:
    return {
        **_base(message, "assistant.started"), "provider": message.provider, "model": message.model, **_by(message),
        **_versions(versions),
    }


def assistant_delta(message: Message, offset: int, text: str) -> dict[str, Any]:
    return {**_base(message, "assistant.delta"), "offset": offset, "text": text}


def assistant_completed(message: Message, versions: list[int] | None = None) -> dict[str, Any]:
    return {
        **_base(message, "assistant.completed"),
        **_versions(versions),
        "status": message.status,
        "text": message.content,
        "html": render_markdown(message.content),
        "error": message.error,
        "tool_calls": message.tool_calls,
        "provider": message.provider,
        "model": message.model,
        "usage": message.usage,
        **_by(message),
        **_audio(message),
    }


def tool_started(message: Message, kind: str = "tool.started", **extra: Any) -> dict[str, Any]:
    server, _, tool = message.tool_name.partition(NAME_SEPARATOR)
    return {
        **_base(message, kind),
        "call_id": message.tool_call_id,
        "name": message.tool_name,
        "title": tool_title(message.tool_name),
        "server": server,
        "tool": tool,
        "arguments": message.tool_arguments,
        **_by(message),
        **extra,
    }


def tool_finished(message: Message) -> dict[str, Any]:
    return {
        **tool_started(message, "tool.finished"),
        "result": message.content,
        "is_error": message.is_error,
        "kind": message.tool_outcome or ("error" if message.is_error else "result"),
        "duration_ms": duration_ms(message),
    }


def duration_ms(message: Message) -> int | None:
    """From the call's start (its message was created) to its end (the last write of its outcome)."""
    if message.created_at is None or message.updated_at is None:
        return None
    return max(0, round((message.updated_at - message.created_at).total_seconds() * 1000))


def turn_finished(conversation_id: int, seq: int, status: str, error: str) -> dict[str, Any]:
    """The one frame that ends a turn: every reply, tool card and wait of the turn is over."""
    return {"type": "turn.finished", "conversation_id": conversation_id, "seq": seq, "status": status, "error": error}


def conversation_branched(
    conversation_id: int, after_seq: int, *, client_id: str = "", first_seq: int | None = None, has_earlier: bool = False,
) -> dict[str, Any]:
    """The branch shown changed after `after_seq` (an edit, a regenerated reply, another version chosen): a tab
    drops what it shows after it; the new branch's messages follow (docs/protocol.md "Versions and branches")."""
    return {
        "type": "conversation.branched", "conversation_id": conversation_id, "after_seq": after_seq,
        "client_id": client_id, "first_seq": first_seq, "has_earlier": has_earlier,
    }


def replay_all(messages: list[Message], versions: dict[int, list[int]] | None = None) -> list[dict[str, Any]]:
    """`replay` of each message in order; markdown rendering included, so callers on the event loop run it
    in a thread (`await asyncio.to_thread(replay_all, messages)`): a page of replies with code is CPU work.
    `versions`: seq -> the seqs of that message's versions, for those that have others (branches.versions)."""
    versions = versions or {}
    return [frame for message in messages for frame in replay(message, versions.get(message.seq))]


def replay(message: Message, versions: list[int] | None = None) -> list[dict[str, Any]]:
    """The frames that bring a client up to date on one stored message (docs/protocol.md)."""
    if message.role == Message.Role.USER:
        return [message_created(message, versions)]
    if message.role == Message.Role.TOOL:
        return [tool_started(message)] if message.status == Message.Status.STREAMING else [tool_finished(message)]
    if message.status == Message.Status.STREAMING:
        return [assistant_started(message, versions), assistant_delta(message, 0, message.content)]
    return [assistant_completed(message, versions)]
