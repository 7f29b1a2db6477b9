"""Following a conversation, for every door that streams it (the socket, the SSE stream).

`open_page` is what a client that (re)opens a conversation is sent: the newest stored page after
the seq it holds, a dead turn swept first. `Delivery` is what one client holds of the
conversation, so replayed and live frames join with no character and no final frame twice, and a
gap in a reply's text asks the turn for all of it (`turn.sync`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chat import branches, frames, selectors, turns
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
    versions: dict[int, list[int]] = field(default_factory=dict)  # seq -> its versions' seqs (branches.versions)
    branched_after: int | None = None  # set by open_page when the client's branch is not the one shown

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
        return await asyncio.to_thread(frames.replay_all, self.messages, self.versions)

    def branched(self, conversation_id: int, after_seq: int, client_id: str) -> dict[str, Any]:
        """The `conversation.branched` frame that precedes this page's replay (the new branch after after_seq)."""
        return frames.conversation_branched(
            conversation_id, after_seq, client_id=client_id,
            first_seq=self.messages[0].seq if self.messages else None, has_earlier=self.has_earlier,
        )


def _details(conversation_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return selectors.participants_brief(conversation_id=conversation_id), documents_frame(conversation_id)


async def open_page(conversation: Conversation, last_seq: int) -> Page:
    """The newest stored page after last_seq; a dead turn's streaming reply is marked interrupted first.

    A client whose last message is no longer on the branch shown (another tab chose another version
    while it was away) gets the page after the point where its branch and the one shown part, with
    `branched_after` set: it is sent a `conversation.branched` before the replay.
    """
    fork = await database_sync_to_async(branches.parted_at)(conversation.pk, last_seq) if last_seq else None
    after = last_seq if fork is None else fork
    page = await _page(conversation.pk, after_seq=after)
    if page.streaming and not _leased(conversation) and await turns.sweep(conversation_id=conversation.pk):
        page = await _page(conversation.pk, after_seq=after)
    page.branched_after = fork
    return page


async def page_before(conversation_id: int, before_seq: int) -> Page:
    return await _page(conversation_id, before_seq=before_seq)


async def page_after(conversation_id: int, after_seq: int) -> Page:
    """The newest stored page of the branch shown after after_seq, with no sweep: after a `conversation.branched`."""
    return await _page(conversation_id, after_seq=after_seq)


async def _page(conversation_id: int, *, after_seq: int = 0, before_seq: int | None = None) -> Page:
    return await database_sync_to_async(_read_page)(conversation_id, after_seq, before_seq)


def _read_page(conversation_id: int, after_seq: int, before_seq: int | None) -> Page:
    messages, earlier = selectors.message_page(
        conversation_id=conversation_id, after_seq=after_seq, before_seq=before_seq,
        limit=settings.CHAT_REPLAY_MESSAGES, max_chars=settings.CHAT_REPLAY_MAX_CHARS,
    )
    streaming = any(m.status == Message.Status.STREAMING for m in messages)
    return Page(messages, earlier, streaming, branches.versions(conversation_id, messages))


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
