"""The socket layer, through the routed application with a real session cookie and Origin header."""

import json
from itertools import pairwise

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from chat import services
from chat.models import Message
from tests.support.socket import (
    communicator,
    connected,
    final_reply,
    of_type,
    receive_frame,
    reply_text,
    run_turn,
    send,
    send_message,
    session_cookie,
)
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def conversation_of(user, text="hello"):
    return services.conversation_create(owner=user, first_text=text)


async def test_logged_in_socket_is_accepted_and_answers_ping(user):
    async with connected(user) as comm:
        await send(comm, "ping", nonce="n1")
        assert await receive_frame(comm, "pong") == {"type": "pong", "nonce": "n1"}


async def test_anonymous_socket_is_refused(user):
    comm = communicator(cookie=None)
    accepted, _ = await comm.connect(timeout=5)
    await comm.disconnect()
    assert not accepted


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_socket_from_a_foreign_or_missing_origin_is_refused(user, origin):
    comm = communicator(await session_cookie(user), origin=origin)
    accepted, _ = await comm.connect(timeout=5)
    await comm.disconnect()
    assert not accepted


@override_settings(DEMO_TOKEN_DELAY_SECONDS=0.005, CHAT_DELTA_MAX_MERGE_SECONDS=0)  # a frame per token
async def test_a_message_streams_a_reply_in_protocol_order(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "hello there")

    kinds = [f["type"] for f in frames]
    assert kinds[:3] == ["conversation.created", "message.created", "assistant.started"]
    assert kinds[-2:] == ["assistant.completed", "turn.finished"]
    assert set(kinds[3:-2]) == {"assistant.delta"} and len(kinds[3:-2]) > 3
    completed = final_reply(frames)
    assert completed["status"] == "complete" and completed["seq"] == 2
    assert reply_text(frames) == completed["text"]
    assert "offline demo model" in completed["text"]
    assert completed["html"].startswith("<p>")
    messages = await stored(completed["conversation_id"])
    assert [(m.seq, m.role, m.status) for m in messages] == [(1, "user", "complete"), (2, "assistant", "complete")]
    assert messages[1].content == completed["text"] and messages[1].provider == "demo"


async def test_a_tool_request_runs_the_calculator_and_answers_from_its_result(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "what is 12*7")

    started, finished = of_type(frames, "tool.started")[0], of_type(frames, "tool.finished")[0]
    assert (started["name"], started["arguments"]) == ("builtin__calculator", {"expression": "12*7"})
    assert (finished["result"], finished["is_error"], finished["kind"]) == ("84", False, "result")
    assert "84" in final_reply(frames)["text"]
    messages = await stored(frames[-1]["conversation_id"])
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls[0]["id"] == messages[2].tool_call_id
    assert messages[2].content == "84"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        (json.dumps({"type": "launch.missiles"}), "unknown_type"),
        (json.dumps({"type": "message.send", "client_id": "c1"}), "invalid_frame"),
        (json.dumps({"type": "message.send", "client_id": "c1", "text": "x", "extra": 1}), "invalid_frame"),
        (json.dumps({"type": "message.send", "client_id": "c1", "text": "x" * 9000}), "too_large"),
        (json.dumps([1, 2]), "invalid_frame"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_still_works(user, raw, code):
    async with connected(user) as comm:
        await comm.send_to(text_data=raw)
        error = await receive_frame(comm, "error")
        assert error["code"] == code and error["message"]
        frames = await run_turn(comm, "still there?")
    assert final_reply(frames)["status"] == "complete"


async def test_a_binary_frame_is_refused_with_an_error(user):
    async with connected(user) as comm:
        await comm.send_to(bytes_data=b"\x00\x01")
        assert (await receive_frame(comm, "error"))["code"] == "binary_not_supported"
        await send(comm, "ping")
        await receive_frame(comm, "pong")


@override_settings(CHAT_MAX_MESSAGE_CHARS=10)
async def test_text_over_the_configured_limit_is_refused_and_not_stored(user):
    async with connected(user) as comm:
        await send_message(comm, "x" * 11, client_id="too-long")
        error = await receive_frame(comm, "error")
    assert (error["code"], error["client_id"]) == ("too_large", "too-long")
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_someone_elses_conversation_is_not_found_for_every_frame(user, other_user):
    theirs = await conversation_of(other_user)
    async with connected(user) as comm:
        await send_message(comm, "let me in", conversation_id=theirs.pk)
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        await send(comm, "conversation.open", conversation_id=theirs.pk, last_seq=0)
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        await send(comm, "generation.stop", conversation_id=theirs.pk)
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        await send(comm, "tool.confirm", conversation_id=theirs.pk, call_id="x", allow=True)
        assert (await receive_frame(comm, "error"))["code"] == "not_found"
        await send(comm, "ping")
        await receive_frame(comm, "pong")
    assert await stored(theirs.pk) == []


async def test_a_resent_client_id_is_acknowledged_and_starts_no_second_reply(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "hello once")
        conversation_id = frames[-1]["conversation_id"]
        client_id = of_type(frames, "message.created")[0]["client_id"]
        await send_message(comm, "hello once", conversation_id=conversation_id, client_id=client_id)
        echo = await receive_frame(comm, "message.created")
        assert (echo["seq"], echo["client_id"]) == (1, client_id)
        assert await comm.receive_nothing(timeout=0.3)
    assert [m.role for m in await stored(conversation_id)] == ["user", "assistant"]


async def test_a_resent_first_message_does_not_create_a_second_conversation(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "first words")
        client_id = of_type(frames, "message.created")[0]["client_id"]
        await send_message(comm, "first words", client_id=client_id)
        echo = await receive_frame(comm, "message.created")
    assert echo["conversation_id"] == frames[-1]["conversation_id"]
    assert await database_sync_to_async(user.conversations.count)() == 1


async def test_a_client_id_of_a_message_in_another_conversation_is_refused_and_the_socket_goes_on(user):
    async with connected(user) as comm:
        first = await run_turn(comm, "first words")
        client_id, first_id = of_type(first, "message.created")[0]["client_id"], first[-1]["conversation_id"]
        second_id = (await run_turn(comm, "second words"))[-1]["conversation_id"]
        await send_message(comm, "again", conversation_id=second_id, client_id=client_id)
        refused = await receive_frame(comm, "error")
        await send(comm, "ping")
        await receive_frame(comm, "pong")
    assert (refused["code"], refused["client_id"]) == ("client_id_used", client_id)
    assert refused["message"] == (f"client_id {client_id!r} already names your message in conversation {first_id}; "
                                  "a new message needs a new client_id.")
    assert [m.role for m in await stored(second_id)] == ["user", "assistant"]


@override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05)
async def test_stop_keeps_the_partial_reply_and_stores_it_as_stopped(user):
    async with connected(user) as comm:
        seen = []
        await send_message(comm, "tell me something")
        first = await receive_frame(comm, "assistant.delta", seen=seen)
        await send(comm, "generation.stop", conversation_id=first["conversation_id"])
        completed = await receive_frame(comm, "assistant.completed", seen=seen)

    assert completed["status"] == "stopped"
    assert completed["text"] == reply_text(seen) and 0 < len(completed["text"]) < 200
    reply = (await stored(completed["conversation_id"]))[-1]
    assert (reply.status, reply.content) == ("stopped", completed["text"])


async def test_stop_with_nothing_streaming_is_an_error(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "hi")
        await send(comm, "generation.stop", conversation_id=frames[-1]["conversation_id"])
        assert (await receive_frame(comm, "error"))["code"] == "not_streaming"


@override_settings(DEMO_TOKEN_DELAY_SECONDS=0.02, CHAT_DELTA_MAX_MERGE_SECONDS=0)  # a frame per token
async def test_two_tabs_on_one_conversation_both_see_the_reply_stream(user):
    async with connected(user) as first, connected(user) as second:
        conversation_id = (await run_turn(first, "hello"))[-1]["conversation_id"]
        await send(second, "conversation.open", conversation_id=conversation_id, last_seq=2)
        await receive_frame(second, "conversation.opened")

        frames_first = await run_turn(first, "and again", conversation_id=conversation_id)
        frames_second = []
        await receive_frame(second, "assistant.completed", seen=frames_second)

    assert of_type(frames_second, "message.created")[0]["text"] == "and again"
    assert len(of_type(frames_second, "assistant.delta")) > 3
    assert reply_text(frames_second) == reply_text(frames_first) == final_reply(frames_first)["text"]


async def test_reopening_with_the_last_seq_replays_exactly_the_missing_frames(user):
    async with connected(user) as comm:
        frames = await run_turn(comm, "what is 12*7")
    conversation_id = frames[-1]["conversation_id"]

    async with connected(user) as comm:
        await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=2)
        replayed = []
        opened = await receive_frame(comm, "conversation.opened", seen=replayed)
        await receive_frame(comm, "assistant.completed", seen=replayed)
        assert await comm.receive_nothing(timeout=0.2)

    assert (opened["last_seq"], opened["streaming"]) == (4, False)
    assert [(f["type"], f.get("seq")) for f in replayed[1:]] == [("tool.finished", 3), ("assistant.completed", 4)]
    live = {f["seq"]: f for f in frames if f["type"] in ("tool.finished", "assistant.completed")}
    assert replayed[1]["result"] == live[3]["result"] == "84"
    assert replayed[2]["text"] == live[4]["text"] and replayed[2]["html"] == live[4]["html"]


@override_settings(DEMO_TOKEN_DELAY_SECONDS=0.02)
async def test_reopening_mid_stream_shows_the_text_so_far_then_the_rest_without_doubling(user):
    async with connected(user) as writer:
        conversation_id = (await run_turn(writer, "hi"))[-1]["conversation_id"]
        await send_message(writer, "tell me more", conversation_id=conversation_id)
        await receive_frame(writer, "assistant.delta", where=lambda f: f["offset"] > 20)

        async with connected(user) as reader:
            await send(reader, "conversation.open", conversation_id=conversation_id, last_seq=3)
            seen = []
            opened = await receive_frame(reader, "conversation.opened", seen=seen)
            completed = await receive_frame(reader, "assistant.completed", seen=seen)

    assert opened["streaming"] is True
    snapshot = of_type(seen, "assistant.delta")[0]
    assert snapshot["offset"] == 0 and snapshot["text"]
    assert reply_text(seen) == completed["text"]
    offsets = [(f["offset"], len(f["text"])) for f in of_type(seen, "assistant.delta")]
    assert all(start == prev_start + prev_len for (prev_start, prev_len), (start, _) in pairwise(offsets))


async def test_a_second_message_while_a_reply_streams_is_refused_as_busy(user):
    with override_settings(DEMO_TOKEN_DELAY_SECONDS=0.05):
        async with connected(user) as comm:
            conversation_id = (await run_turn(comm, "hi"))[-1]["conversation_id"]
            await send_message(comm, "first", conversation_id=conversation_id)
            await receive_frame(comm, "assistant.delta")
            await send_message(comm, "second", conversation_id=conversation_id, client_id="second")
            error = await receive_frame(comm, "error")
    assert (error["code"], error["client_id"]) == ("busy", "second")


@override_settings(CHAT_RATE_LIMIT_MESSAGES=2)
async def test_sending_faster_than_the_rate_limit_is_refused(user):
    async with connected(user) as comm:
        conversation_id = (await run_turn(comm, "one"))[-1]["conversation_id"]
        await run_turn(comm, "two", conversation_id=conversation_id)
        await send_message(comm, "three", conversation_id=conversation_id)
        assert (await receive_frame(comm, "error"))["code"] == "rate_limited"
