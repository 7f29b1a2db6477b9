"""Following a conversation, for every door that streams it (the socket, the SSE stream).

`open_page` is what a client that (re)opens a conversation is sent: the newest stored page after
the seq it holds, a dead turn swept first. `Delivery` is what one client holds of the
conversation, so replayed and live frames join with no character and no final frame twice, and a
gap in a reply's text asks the turn for all of it (`turn.sync`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chat import frames, selectors, turns
from chat.documents.changes import documents_frame
from chat.models import Conversation, Message

FINAL = frozenset({"message.created", "assistant.completed", "tool.finished"})
STARTED = frozenset({"assistant.started", "tool.started"})
# About the turn (turn.finished), or added to a final message later (a reply read aloud): always passed on.
PASSED_ON = frozenset({"turn.finished", "assistant.audio"})


@dataclass
class Page:
    messages: list[Message]
    has_earlier: bool
    streaming: bool

    async def opened(self, conversation: Conversation, last_seq: int) -> dict[str, Any]:
        """The `conversation.opened` frame that precedes this page's replay: with the participants, and the
        documents and mode (the fields of a `conversation.documents` frame), read in one trip to the database."""
        participants, documents = await database_sync_to_async(_details)(conversation.pk)
        return {
            "type": "conversation.opened", "conversation_id": conversation.pk, "title": conversation.title,
            "last_seq": self.messages[-1].seq if self.messages else last_seq, "streaming": self.streaming,
            "first_seq": self.messages[0].seq if self.messages else None, "has_earlier": self.has_earlier,
            "participants": participants,
            **{key: documents[key] for key in ("document_mode", "documents", "quote_cut")},
        }

    async def frames(self) -> list[dict[str, Any]]:
        """The replay of this page (rendering is CPU work: off the loop)."""
        return await asyncio.to_thread(frames.replay_all, self.messages)


def _details(conversation_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return selectors.participants_brief(conversation_id=conversation_id), documents_frame(conversation_id)


async def open_page(conversation: Conversation, last_seq: int) -> Page:
    """The newest stored page after last_seq; a dead turn's streaming reply is marked interrupted first."""
    page = await _page(conversation.pk, after_seq=last_seq)
    if page.streaming and not _leased(conversation) and await turns.sweep(conversation_id=conversation.pk):
        page = await _page(conversation.pk, after_seq=last_seq)
    return page


async def page_before(conversation_id: int, before_seq: int) -> tuple[list[Message], bool]:
    page = await _page(conversation_id, before_seq=before_seq)
    return page.messages, page.has_earlier


async def _page(conversation_id: int, *, after_seq: int = 0, before_seq: int | None = None) -> Page:
    messages, earlier = await database_sync_to_async(selectors.message_page)(
        conversation_id=conversation_id, after_seq=after_seq, before_seq=before_seq,
        limit=settings.CHAT_REPLAY_MESSAGES, max_chars=settings.CHAT_REPLAY_MAX_CHARS,
    )
    return Page(messages, earlier, any(m.status == Message.Status.STREAMING for m in messages))


def _leased(conversation: Conversation) -> bool:
    until = conversation.turn_lease_until
    return bool(conversation.turn_token) and until is not None and until >= timezone.now()


class Delivery:
    """What one client holds of the conversation it follows: each frame passes `admit` before it is sent.

    A reply's text is de-duplicated by offset; a frame about a message the client holds as final
    (or an `assistant.started`/`tool.started` it already has) is dropped. That is what lets a door
    subscribe to the group before it reads the stored page: live frames the replay covered drop out.
    """

    def __init__(self, held: dict[int, int] | None = None) -> None:
        self.delivered: dict[int, int] = dict(held or {})  # seq -> characters of that reply the client has
        self.started: set[int] = set(self.delivered)  # seqs whose *.started the client has
        self.final: set[int] = set()  # seqs the client holds as final (from a replay; bounded by its page)
        self.resyncing: set[int] = set()  # replies whose missing text was asked for

    def admit(self, frame: dict[str, Any], *, replayed: bool = False) -> tuple[dict[str, Any] | None, int | None]:
        """The frame to send (a delta trimmed to what the client lacks) or None; and the seq of a reply
        whose text went missing on the way, the first time it does (ask the turn for all of it)."""
        kind, seq = frame["type"], frame.get("seq")
        if kind in PASSED_ON:
            return frame, None
        if seq in self.final or (kind in STARTED and seq in self.started):
            return None, None
        if kind in STARTED:
            self.started.add(seq)
            if kind == "assistant.started":
                self.delivered.setdefault(seq, 0)
        elif kind == "assistant.delta":
            have = self.delivered.get(seq, 0)
            offset, text = frame["offset"], frame["text"]
            if offset > have:
                if seq in self.resyncing:
                    return None, None
                self.resyncing.add(seq)
                return None, seq
            if offset + len(text) <= have:
                return None, None
            frame = {**frame, "offset": have, "text": text[have - offset:]}
            self.delivered[seq] = have + len(frame["text"])
            self.resyncing.discard(seq)
        elif kind in FINAL:
            self.delivered.pop(seq, None)
            self.resyncing.discard(seq)
            self.started.discard(seq)
            if replayed:
                self.final.add(seq)
        return frame, None
