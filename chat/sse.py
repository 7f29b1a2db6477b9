"""Server-Sent Events: one conversation's frames over plain HTTP, the same frames as its socket (docs/api.md).

Each frame is one event: `event:` its type, `data:` its JSON, `id:` where a client resumes from
(`<seq>` once it holds message seq as final, `<seq>:<characters>` while a message is partial).
A stream subscribes to the conversation's group before it reads the stored page; live frames wait
in its channel meanwhile and `follow.Delivery` drops those the replay covered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from chat import follow, metrics, turns
from chat.models import Conversation

KEEP_ALIVE = b": keep-alive\n\n"
EVENT_ID = re.compile(r"(\d{1,12})(?::(\d{1,12}))?")


def event_id(frame: dict[str, Any]) -> str | None:
    """Where a client that got this frame resumes from; None for frames about no message."""
    seq = frame.get("seq")
    if seq is None:
        return None
    kind = frame["type"]
    if kind == "assistant.delta":
        return f"{seq}:{frame['offset'] + len(frame['text'])}"
    if kind in follow.FINAL or kind == "turn.finished":
        return str(seq)
    return f"{seq}:0"  # started, or waiting for a confirmation: not final yet


def encode(frame: dict[str, Any]) -> bytes:
    ident = event_id(frame)
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {frame['type']}\ndata: {json.dumps(frame, ensure_ascii=False)}\n\n".encode()


def resume_point(last_event_id: str | None, last_seq: int) -> tuple[int, dict[int, int]] | None:
    """(last_seq, {seq: characters held}) from Last-Event-ID, which wins over ?last_seq=; None if malformed."""
    if last_event_id is None or not last_event_id.strip():
        return last_seq, {}
    match = EVENT_ID.fullmatch(last_event_id.strip())
    if match is None:
        return None
    seq = int(match[1])
    if match[2] is None:
        return seq, {}
    return max(seq - 1, 0), {seq: int(match[2])}


async def stream(conversation: Conversation, last_seq: int, held: dict[int, int]) -> AsyncIterator[bytes]:
    """The conversation's frames from last_seq on: the stored page, the turn's unsaved text, then live frames.

    Ends after SSE_MAX_SECONDS (the client resumes with Last-Event-ID, authenticated again); a client
    that goes away cancels it, which leaves the group and drops the channel at once.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = turns.conversation_group(conversation.pk)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(settings.SSE_MAX_SECONDS)
    receiving: asyncio.Future[dict[str, Any]] | None = None
    await layer.group_add(group, channel)  # before the page is read: nothing published meanwhile is lost
    try:
        delivery = follow.Delivery(held)
        page = await follow.open_page(conversation, last_seq)
        yield encode(await page.opened(conversation, last_seq))
        if page.branched_after is not None:  # what it holds is no longer the branch shown
            delivery = follow.Delivery()
            yield encode(page.branched(conversation.pk, page.branched_after, ""))
        async for chunk in _replay(page, delivery, channel):
            yield chunk
        while (left := deadline - loop.time()) > 0:
            if receiving is None:
                receiving = asyncio.ensure_future(layer.receive(channel))
            done, _ = await asyncio.wait({receiving}, timeout=min(float(settings.SSE_KEEPALIVE_SECONDS), left))
            if not done:
                if deadline - loop.time() > 0:
                    yield KEEP_ALIVE
                continue
            event, receiving = receiving.result(), None
            frame = event.get("frame")
            if event.get("type") != "chat.frame" or frame is None or frame.get("conversation_id") != conversation.pk:
                continue
            if frame["type"] == "conversation.branched":  # another version shown: its page replaces what came after
                delivery = follow.Delivery()
                page = await follow.page_after(conversation.pk, frame["after_seq"])
                yield encode(page.branched(conversation.pk, frame["after_seq"], frame["client_id"]))
                async for chunk in _replay(page, delivery, channel):
                    yield chunk
                continue
            frame, missing = delivery.admit(frame)
            if missing is not None:  # text went missing on the way: ask the turn for all of it
                await turns.send_control(conversation.pk, {"type": "turn.sync", "reply_channel": channel})
            if frame is not None:
                metrics.relayed(event)
                yield encode(frame)
    finally:
        if receiving is not None:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiving
        await layer.group_discard(group, channel)
        if isinstance(layer, InMemoryChannelLayer):
            layer.channels.pop(channel, None)  # a sync answer in flight would otherwise wait for expiry


async def _replay(page: follow.Page, delivery: follow.Delivery, channel: str) -> AsyncIterator[bytes]:
    """A stored page's events; a reply still streaming asks its turn for the unsaved text and any wait."""
    for replayed in await page.frames():
        frame, _ = delivery.admit(replayed, replayed=True)
        if frame is not None:
            yield encode(frame)
    if page.streaming:
        conversation_id = page.messages[-1].conversation_id
        await turns.send_control(conversation_id, {"type": "turn.sync", "reply_channel": channel})
