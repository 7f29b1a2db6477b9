"""Long conversations replay newest first, a bounded page at a time; older pages come on request."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from chat import services
from chat.models import Message
from tests.support.socket import connected, receive_frame, send
from tests.support.stored import store_line

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def long_conversation(user: Any, count: int, text: str = "message") -> int:
    conversation = services.conversation_create(owner=user, first_text="long")
    store_line(conversation, [
        Message(conversation=conversation, seq=n, role="user" if n % 2 else "assistant", content=f"{text} {n}")
        for n in range(1, count + 1)
    ])
    return conversation.pk


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] in ("message.created", "assistant.completed")]


@override_settings(CHAT_REPLAY_MESSAGES=100)
async def test_opening_a_long_conversation_replays_the_newest_page_and_older_pages_on_request(user):
    conversation_id = await long_conversation(user, 250)
    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=0)
        first: list[dict[str, Any]] = []
        opened = await receive_frame(comm, "conversation.opened", seen=first)
        await receive_frame(comm, "assistant.completed", where=lambda f: f["seq"] == 250, seen=first)

        pages = []
        before = opened["first_seq"]
        while True:
            page: list[dict[str, Any]] = []
            await send(comm, "history.before", conversation_id=conversation_id, before_seq=before)
            end = await receive_frame(comm, "history.page", seen=page)
            pages.append(seqs(page))
            if not end["has_earlier"]:
                break
            before = end["first_seq"]
            assert len(pages) < 5, "paging never ended"
        assert await comm.receive_nothing(timeout=0.2)

    assert (opened["first_seq"], opened["last_seq"], opened["has_earlier"]) == (151, 250, True)
    assert seqs(first) == list(range(151, 251))
    assert pages == [list(range(51, 151)), list(range(1, 51))]
    assert (end["first_seq"], end["has_earlier"]) == (1, False)


@override_settings(CHAT_REPLAY_MESSAGES=100, CHAT_REPLAY_MAX_CHARS=10_000)
async def test_a_page_is_bounded_by_its_text_as_well_as_its_count(user):
    conversation_id = await long_conversation(user, 50, text="x" * 999)
    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=0)
        seen: list[dict[str, Any]] = []
        opened = await receive_frame(comm, "conversation.opened", seen=seen)
        await receive_frame(comm, "assistant.completed", where=lambda f: f["seq"] == 50, seen=seen)
    # Each message is about 1,006 characters with its (empty) tool fields: 9 fit in 10,000, a 10th would not.
    assert opened["has_earlier"] is True and seqs(seen) == list(range(42, 51))


async def test_history_of_someone_elses_conversation_is_not_found(user, other_user):
    theirs = await long_conversation(other_user, 5)
    async with connected(user) as comm:
        await send(comm, "history.before", conversation_id=theirs, before_seq=5)
        error = await receive_frame(comm, "error")
    assert error["code"] == "not_found"
