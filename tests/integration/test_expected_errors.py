"""Expected errors (a client's mistake, a client that went away) log no traceback; a real bug still does."""

import json
import logging

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async

from chat import protocol
from chat.consumers import ChatConsumer
from chat.models import Message
from tests.support.socket import connected, receive_frame, send

pytestmark = pytest.mark.django_db(transaction=True)

BAD_FRAMES = [
    "{not json",
    json.dumps([1]),
    json.dumps({"type": "launch"}),
    json.dumps({"type": "message.send", "client_id": "c1", "text": "x", "extra": 1}),
    json.dumps({"type": "message.send", "client_id": "c1", "text": "a\u0000b"}),
    json.dumps({"type": "message.send", "client_id": "c1", "text": "x", "conversation_id": 999999}),
    json.dumps({"type": "conversation.open", "conversation_id": 999999}),
    json.dumps({"type": "generation.stop", "conversation_id": 999999}),
    json.dumps({"type": "tool.confirm", "conversation_id": 999999, "call_id": "\u0000", "allow": True}),
]


def tracebacks(caplog):
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_client_errors_get_error_frames_and_log_no_traceback(user, caplog):
    async with connected(user) as comm:
        for raw in BAD_FRAMES:
            await comm.send_to(text_data=raw)
            error = await receive_frame(comm, "error")
            assert error["code"] != "internal_error", (raw, error)
    assert tracebacks(caplog) == []


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"type": "message.send", "client_id": "c1", "text": "a\u0000b"}, "text", "NUL"),
        ({"type": "message.send", "client_id": "c1", "text": "a\ud800b"}, "text", "unicode string"),
        ({"type": "tool.confirm", "conversation_id": 1, "call_id": "x\u0000", "allow": True}, "call_id", "NUL"),
    ],
)
async def test_nul_and_lone_surrogates_are_refused_as_invalid_frames_and_nothing_is_stored(user, fields, field, says):
    async with connected(user) as comm:
        await comm.send_to(text_data=json.dumps(fields))
        error = await receive_frame(comm, "error")
        await send(comm, "ping")
        await receive_frame(comm, "pong")
    assert error["code"] == "invalid_frame" and field in error["message"]
    assert says in error["message"]
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_answering_a_client_that_already_went_away_logs_no_traceback(user, caplog, monkeypatch):
    async def gone(self, text_data=None, bytes_data=None, close=False):
        raise Disconnected("Attempt to send on a closed protocol")

    async with connected(user) as comm:
        monkeypatch.setattr(ChatConsumer, "send", gone)
        await comm.send_to(text_data="{not json")
        await send(comm, "ping")
        assert await comm.receive_nothing(timeout=0.2)
        monkeypatch.undo()
        await send(comm, "ping", nonce="still here")
        assert (await receive_frame(comm, "pong"))["nonce"] == "still here"
    assert tracebacks(caplog) == []


async def test_a_real_bug_still_logs_a_traceback_and_answers_internal_error(user, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(protocol, "parse", broken)
    async with connected(user) as comm:
        await send(comm, "ping")
        error = await receive_frame(comm, "error")
    assert error["code"] == "internal_error"
    assert [r.exc_info[1].args for r in tracebacks(caplog)] == [("a bug",)]
