"""The SSE stream of a conversation (GET /api/v1/conversations/{id}/events) through the real application.

Streams are read from the routed ASGI application (tests/support/sse.py), beside sockets and API sends
in the same process, so the scripted model and the fake LLM server reach them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat import follow, services, turns
from chat.models import Message
from tests.support.api import bearer_client, post, token_for
from tests.support.fake_llm_server import FakeLLMServer, Hold, text_reply
from tests.support.layers import channel_dropped, group_members
from tests.support.providers import OPENAI_URL, PRIMARY
from tests.support.socket import connected, receive_frame, receive_turn, reply_text, send
from tests.support.sse import events_url, sse_stream
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def auth(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token_for(user)}"}


@pytest.fixture
async def conversation(user: Any) -> Any:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(services.conversation_create)(owner=user, title="streamed")


async def api_send(user: Any, conversation_id: int, text: str) -> dict[str, Any]:
    response = await post(await bearer_client(user), f"/conversations/{conversation_id}/messages", {"text": text})
    assert response.status_code == 202, response.content
    return response.json()


def types(frames: list[dict[str, Any]]) -> list[str]:
    """Frame types with runs of deltas collapsed: under load the engine merges deltas."""
    out: list[str] = []
    for frame in frames:
        if not (out and out[-1] == frame["type"] == "assistant.delta"):
            out.append(frame["type"])
    return out


async def test_events_arrive_in_order_and_are_the_sockets_frames(user, model, auth, conversation):
    model.says("Twelve times seven is 84.")
    async with connected(user) as comm, sse_stream(events_url(conversation.pk), auth) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in stream.headers
        opened = (await stream.next_event()).frame
        assert (opened["type"], opened["conversation_id"], opened["last_seq"], opened["streaming"]) == (
            "conversation.opened", conversation.pk, 0, False)
        await send(comm, "conversation.open", conversation_id=conversation.pk, last_seq=0)
        await receive_frame(comm, "conversation.opened")

        await api_send(user, conversation.pk, "what is 12*7")
        socket_frames = await receive_turn(comm)
        sse_frames = await stream.until("turn.finished")

    assert sse_frames == socket_frames
    assert types(sse_frames) == ["message.created", "assistant.started", "assistant.delta", "assistant.completed",
                                 "turn.finished"]
    assert reply_text(sse_frames) == "Twelve times seven is 84."
    events = stream.events[1:]
    assert [e.event for e in events] == [f["type"] for f in sse_frames]
    deltas = [f for f in sse_frames if f["type"] == "assistant.delta"]
    assert [e.id for e in events if e.event == "assistant.delta"] == [
        f"2:{d['offset'] + len(d['text'])}" for d in deltas]
    assert [e.id for e in events if e.event != "assistant.delta"] == ["1", "2:0", "2", "2"]


async def test_an_unowned_or_missing_conversation_is_404_before_anything_streams(other_user, auth):
    from channels.db import database_sync_to_async

    theirs = await database_sync_to_async(services.conversation_create)(owner=other_user, title="theirs")
    for conversation_id in (theirs.pk, theirs.pk + 1000):
        async with sse_stream(events_url(conversation_id), auth) as stream:
            assert stream.status == 404 and stream.ended
            assert stream.headers["content-type"] == "application/problem+json"
            assert b'"code": "not_found"' in stream.body
    assert await group_members(turns.conversation_group(theirs.pk)) == set()


async def test_without_credentials_the_stream_is_401(conversation):
    async with sse_stream(events_url(conversation.pk)) as stream:
        assert stream.status == 401 and stream.ended


async def test_a_session_may_follow_its_conversation_too(user, conversation):
    from tests.support.socket import session_cookie

    async with sse_stream(events_url(conversation.pk), {"Cookie": await session_cookie(user)}) as stream:
        assert stream.status == 200
        assert (await stream.next_event()).event == "conversation.opened"


async def test_keep_alive_comments_arrive_while_nothing_happens(settings, auth, conversation):
    settings.SSE_KEEPALIVE_SECONDS = 0.05
    async with sse_stream(events_url(conversation.pk), auth) as stream:
        assert (await stream.next_event()).event == "conversation.opened"
        assert await stream.comment(timeout=5) == "keep-alive"
        assert await stream.comment(timeout=5) == "keep-alive"
        assert len(stream.events) == 1


async def test_the_stream_ends_after_sse_max_seconds(settings, auth, conversation):
    settings.SSE_MAX_SECONDS = 0.2
    async with sse_stream(events_url(conversation.pk), auth) as stream:
        await stream.until_ended(timeout=5)
        assert [e.event for e in stream.events] == ["conversation.opened"]
    assert await group_members(turns.conversation_group(conversation.pk)) == set()


async def test_last_event_id_resumes_mid_reply_with_exactly_the_missing_events(user, use_providers, auth, conversation):
    with FakeLLMServer() as fake:
        use_providers({**PRIMARY, "base_url": fake.base_url})
        fake.script(text_reply("Partial ", Hold("middle"), "text, then the rest."))
        async with sse_stream(events_url(conversation.pk), auth) as first:
            await first.next_event()
            await api_send(user, conversation.pk, "go")
            await first.until("assistant.delta")
            await asyncio.to_thread(fake.wait_until_held, "middle")
            while reply_text(first.frames) != "Partial ":
                await first.until("assistant.delta")
        last_id = first.events[-1].id
        assert last_id == "2:8"

        async with sse_stream(events_url(conversation.pk), {**auth, "Last-Event-ID": last_id}) as second:
            opened = (await second.next_event()).frame
            assert (opened["streaming"], opened["first_seq"]) == (True, 2)
            fake.release("middle")
            rest = await second.until("turn.finished")

    assert types(rest) == ["assistant.delta", "assistant.completed", "turn.finished"]
    assert rest[0]["offset"] == 8
    text = "Partial "  # what the client held, then the deltas applied by offset as a browser does
    for delta in (f for f in rest if f["type"] == "assistant.delta"):
        assert delta["offset"] <= len(text)
        text = text[: delta["offset"]] + delta["text"]
    assert text == "Partial text, then the rest."
    assert rest[-2]["text"] == "Partial text, then the rest."


async def test_last_seq_after_the_turn_gives_only_what_is_missing(user, model, auth, conversation):
    model.says("Done and stored.")
    async with sse_stream(events_url(conversation.pk), auth) as stream:
        await stream.next_event()
        await api_send(user, conversation.pk, "hello")
        await stream.until("turn.finished")

    async with sse_stream(events_url(conversation.pk, "last_seq=1"), auth) as resumed:
        opened = (await resumed.next_event()).frame
        completed = (await resumed.next_event()).frame
    assert (opened["type"], opened["first_seq"], opened["last_seq"]) == ("conversation.opened", 2, 2)
    assert (completed["type"], completed["seq"], completed["text"]) == ("assistant.completed", 2, "Done and stored.")

    async with sse_stream(events_url(conversation.pk), {**auth, "Last-Event-ID": "2"}) as nothing_new:
        assert (await nothing_new.next_event()).frame["first_seq"] is None


async def test_frames_published_while_the_page_is_read_are_neither_lost_nor_sent_twice(
    user, model, auth, conversation, monkeypatch, settings
):
    """A whole turn runs between the stream's subscription and its read of the stored page."""
    settings.SSE_KEEPALIVE_SECONDS = 0.2  # a keep-alive after the last frame: nothing else was buffered
    model.says("Raced and joined.")
    real_open_page = follow.open_page
    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation.pk, last_seq=0)
        await receive_frame(comm, "conversation.opened")

        async def read_after_a_turn(*args: Any) -> Any:
            await api_send(user, conversation.pk, "race")
            await receive_turn(comm)
            return await real_open_page(*args)

        monkeypatch.setattr(follow, "open_page", read_after_a_turn)
        async with sse_stream(events_url(conversation.pk), auth) as stream:
            frames = await stream.until("turn.finished")
            await stream.comment()

    assert [f["type"] for f in frames] == ["conversation.opened", "message.created", "assistant.completed", "turn.finished"]
    assert frames[2]["text"] == "Raced and joined."
    assert len(stream.events) == 4


async def test_a_malformed_last_event_id_is_422(auth, conversation):
    async with sse_stream(events_url(conversation.pk), {**auth, "Last-Event-ID": "two"}) as stream:
        assert stream.status == 422
        assert b"header.Last-Event-ID" in stream.body


async def test_twenty_concurrent_streams_all_complete(user, model, auth, conversation):
    model.says("Everyone gets this.")
    async with _streams(20, events_url(conversation.pk), auth) as streams:
        await asyncio.gather(*(s.next_event() for s in streams))
        await api_send(user, conversation.pk, "for all")
        results = await asyncio.gather(*(s.until("turn.finished", timeout=30) for s in streams))
    assert all(reply_text(frames) == "Everyone gets this." for frames in results)
    assert all(types(frames) == types(results[0]) for frames in results)
    assert await group_members(turns.conversation_group(conversation.pk)) == set()


async def test_a_client_gone_mid_reply_frees_its_stream_and_the_reply_is_completed_and_stored(
    user, use_providers, auth, conversation
):
    group = turns.conversation_group(conversation.pk)
    with FakeLLMServer() as fake:
        use_providers({**PRIMARY, "base_url": fake.base_url})
        fake.script(text_reply("Half ", Hold("middle"), "and the other half."))
        async with sse_stream(events_url(conversation.pk), auth) as stream:
            await stream.next_event()
            reply = await api_send(user, conversation.pk, "go")
            await stream.until("assistant.delta")
            await asyncio.to_thread(fake.wait_until_held, "middle")
            (channel,) = await group_members(group)
            await stream.disconnect()
            assert await group_members(group) == set() and channel_dropped(channel)
        async with connected(user) as comm:  # a tab that sees the turn end
            await send(comm, "conversation.open", conversation_id=conversation.pk, last_seq=0)
            await receive_frame(comm, "conversation.opened")
            fake.release("middle")
            await receive_frame(comm, "turn.finished", timeout=10)

    reply_row = (await stored(conversation.pk))[-1]
    assert (reply_row.pk, reply_row.status, reply_row.content) == (
        reply["reply_id"], Message.Status.COMPLETE, "Half and the other half.")


async def test_a_provider_error_mid_stream_ends_with_a_failed_completion(user, use_providers, mocked, auth, conversation):
    from tests.support import wire

    use_providers(PRIMARY)
    body = wire.openai_sse(wire.openai_text_chunks(["Partial ", "text"], finish_reason=None), done=False)
    mocked.post(OPENAI_URL, body=body + "data: {broken\n\n")
    async with sse_stream(events_url(conversation.pk), auth) as stream:
        await stream.next_event()
        await api_send(user, conversation.pk, "Hello")
        frames = await stream.until("turn.finished")

    completed = [f for f in frames if f["type"] == "assistant.completed"][-1]
    assert (completed["status"], completed["text"]) == ("failed", "Partial text")
    assert completed["error"] == "primary: malformed stream: data is not JSON: '{broken'"
    assert (frames[-1]["type"], frames[-1]["status"]) == ("turn.finished", "failed")


class _streams:
    """n streams of one URL open at once, all disconnected on exit."""

    def __init__(self, n: int, url: str, headers: dict[str, str]) -> None:
        self.contexts = [sse_stream(url, headers) for _ in range(n)]

    async def __aenter__(self) -> list[Any]:
        return list(await asyncio.gather(*(c.__aenter__() for c in self.contexts)))

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.gather(*(c.__aexit__(*exc) for c in self.contexts))


def test_a_real_daphne_streams_events_unbuffered_with_keep_alives(user, tmp_path):
    """Through daphne's HTTP server: headers, the first event and keep-alives arrive as they are written."""
    import time

    import requests
    from django.conf import settings as django_settings
    from django.db import connection

    from tests.support.daphne import database_url, server_env, start_daphne
    from tests.support.sse import SseParser

    secret = services.api_token_create(owner=user, name="sse")[1]
    conversation = services.conversation_create(owner=user, title="over daphne")
    server = start_daphne(server_env({
        "DEBUG": "false", "SECRET_KEY": django_settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(connection.settings_dict), "LLM_PROVIDERS": "", "LLM_PROVIDERS_FILE": "",
        "SSE_KEEPALIVE_SECONDS": "0.2",
    }), tmp_path)
    try:
        url = f"{server.url}{events_url(conversation.pk)}"
        with requests.get(url, headers={"Authorization": f"Bearer {secret}"}, stream=True, timeout=5) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert (response.headers["Cache-Control"], response.headers["X-Accel-Buffering"]) == ("no-cache", "no")
            assert "Content-Encoding" not in response.headers
            parser, items, deadline = SseParser(), [], time.monotonic() + 10
            for chunk in response.iter_content(chunk_size=None):
                items += parser.feed(chunk)
                if items.count("keep-alive") >= 2 or time.monotonic() > deadline:
                    break
        assert items[0].event == "conversation.opened", items
        assert items[1:3] == ["keep-alive", "keep-alive"], items
    finally:
        server.stop()


async def test_a_stream_is_sent_the_new_branch_when_a_reply_is_regenerated(user, model, auth, conversation):
    model.says("First.").says("Second.")
    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation.pk, last_seq=0)
        await receive_frame(comm, "conversation.opened")
        await api_send(user, conversation.pk, "Say something")
        await receive_turn(comm)
        async with sse_stream(events_url(conversation.pk), auth) as stream:
            await stream.until("assistant.completed")  # the stored conversation, replayed
            await send(comm, "message.regenerate", conversation_id=conversation.pk, client_id="again")
            socket_frames = await receive_turn(comm)
            sse_frames = await stream.until("turn.finished")
    assert sse_frames == socket_frames
    assert [(f["type"], f.get("after_seq"), f.get("versions")) for f in sse_frames[:2]] == [
        ("conversation.branched", 1, None), ("assistant.started", None, [2, 3])]
    assert reply_text(sse_frames) == "Second."
