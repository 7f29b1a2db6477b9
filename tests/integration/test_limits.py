"""Every documented limit at its exact boundary (at the limit accepted, one past refused), the system
prompt setting reaching the model, and the production defaults as documented in docs/configuration.md,
read from settings loaded in a fresh process with none of the variables set."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from chat import services
from chat.models import Message
from tests.support.api import assert_problem, bearer_client, post
from tests.support.checkout import bare_environment, settings_checkout
from tests.support.fake_llm_server import FakeLLMServer, Hold, text_reply
from tests.support.layers import channel_dropped
from tests.support.metrics import counter_value
from tests.support.providers import PRIMARY
from tests.support.scripted_model import probe_hub
from tests.support.socket import (
    connected,
    final_reply,
    receive_frame,
    receive_turn,
    reply_text,
    run_turn,
    send_message,
)
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_message_of_exactly_the_limit_is_stored_and_one_character_more_is_refused(user, model, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 40
    model.says("ok")
    async with connected(user) as comm:
        await send_message(comm, "é" * 41, client_id="over")  # characters, not bytes
        assert (await receive_frame(comm, "error"))["code"] == "too_large"
        frames = await run_turn(comm, "é" * 40)
    assert final_reply(frames)["status"] == "complete"
    (question, _) = await stored(frames[-1]["conversation_id"])
    assert question.content == "é" * 40


async def test_a_frame_of_exactly_the_byte_limit_is_read_and_one_byte_more_is_refused(user, model, settings):
    settings.CHAT_MAX_FRAME_BYTES = 200
    model.says("ok")

    def frame(client_id: str, text_bytes: int) -> str:
        shell = {"type": "message.send", "client_id": client_id, "text": ""}
        return json.dumps({**shell, "text": "x" * (text_bytes - len(json.dumps(shell).encode()))})

    assert len(frame("over", 201).encode()) == 201 and len(frame("at", 200).encode()) == 200
    async with connected(user) as comm:
        await comm.send_to(text_data=frame("over", 201))
        assert (await receive_frame(comm, "error"))["code"] == "too_large"
        await comm.send_to(text_data=frame("at", 200))
        created = await receive_frame(comm, "message.created")
        await receive_frame(comm, "turn.finished")
    assert created["client_id"] == "at"
    assert [m.client_id for m in await stored(created["conversation_id"]) if m.role == "user"] == ["at"]


async def test_tool_rounds_up_to_the_limit_complete_and_one_more_ends_the_turn_failed(user, model, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    model.calls("probe__echo", {"text": "a"}).says("Done in two rounds.")  # the first turn: at the limit
    model.calls("probe__echo", {"text": "a"}).calls("probe__echo", {"text": "b"}, call_id="call_2")  # one over
    async with probe_hub():
        async with connected(user) as comm:
            frames = await run_turn(comm, "once")
        assert final_reply(frames)["status"] == "complete" and len(model.requests) == 2

        async with connected(user) as comm:
            frames = await run_turn(comm, "twice")
    finished = frames[-1]
    assert finished["status"] == "failed" and "stopped after 2 rounds" in finished["error"]
    assert len(model.requests) == 4  # a third round of the second turn was never asked for


@database_sync_to_async
def _personas(user, count: int) -> list[int]:
    return [services.persona_create(owner=user, name=f"P{n}", system_prompt=f"You are P{n}.").pk for n in range(count)]


async def test_participants_and_discussion_rounds_at_their_limits(user, settings):
    settings.CHAT_MAX_PARTICIPANTS = 3
    settings.CHAT_MAX_DISCUSSION_ROUNDS = 2
    ids = await _personas(user, 4)
    client = await bearer_client(user)
    assert (await post(client, "/conversations", {"persona_ids": ids[:3]})).status_code == 201
    problem = assert_problem(await post(client, "/conversations", {"persona_ids": ids}), 422)
    assert "At most 3 participants" in problem["detail"]
    over = await post(client, "/messages", {"text": "hi", "persona_ids": ids[:2], "rounds": 3})
    assert "Rounds must be from 1 to 2" in assert_problem(over, 422)["detail"]
    assert await database_sync_to_async(Message.objects.count)() == 0  # a refused send stores nothing


async def test_the_configured_system_prompt_is_what_the_model_is_sent_first(user, model, settings):
    settings.CHAT_SYSTEM_PROMPT = "You answer only in haiku."
    model.says("Autumn moonlight")
    async with connected(user) as comm:
        await run_turn(comm, "hello")
    first = model.requests[0]["messages"][0]
    assert first == {"role": "system", "content": "You answer only in haiku."}


def in_memory_layer(capacity: int) -> dict:
    """The in-memory layer whatever the pass (these tests are about its capacity; Redis has its own)."""
    return {"default": {"BACKEND": "chat.layers.InMemoryChannelLayer", "CONFIG": {"capacity": capacity}}}


async def test_a_sockets_channel_holds_channel_capacity_frames_and_drops_only_what_comes_past_it(settings):
    """CHANNEL_CAPACITY on the in-memory layer: a socket that reads nothing holds exactly that many frames of
    its conversation; the next is dropped for it alone (the sender goes on, another socket gets it), and a
    frame sent to the full channel itself (a turn answering `turn.sync`) is refused with ChannelFull."""
    settings.CHANNEL_LAYERS = in_memory_layer(capacity=3)
    layer = get_channel_layer()
    stalled, reading = await layer.new_channel(), await layer.new_channel()
    for channel in (stalled, reading):
        await layer.group_add("conversation.1", channel)

    async def read(channel: str) -> object:
        return (await asyncio.wait_for(layer.receive(channel), 5))["n"]

    read_as_sent = []
    for n in range(4):  # the fourth comes past the stalled socket's capacity: the sender is not told
        await layer.group_send("conversation.1", {"type": "chat.frame", "n": n})
        read_as_sent.append(await read(reading))
    with pytest.raises(ChannelFull):
        await layer.send(stalled, {"type": "chat.frame", "n": "sync"})

    assert read_as_sent == [0, 1, 2, 3]
    assert [await read(stalled) for _ in range(3)] == [0, 1, 2]  # the first 3, in order
    assert channel_dropped(stalled, layer)  # nothing more was held for it
    await layer.send(stalled, {"type": "chat.frame", "n": "after"})  # read, it takes frames again
    assert await read(stalled) == "after"


def layer_frame(kind: str, n: int) -> dict:
    return {"type": "chat.frame", "frame": {"type": kind, "conversation_id": 1, "seq": 2, "offset": n, "text": "x"}}


def dropped(kind: str) -> float:
    return counter_value("chat_channel_layer_dropped_total", kind=kind)


async def test_at_capacity_a_final_frame_takes_the_place_of_queued_reply_text_and_a_lost_frame_is_counted(
    settings, caplog
):
    """Reply text past a full channel is recoverable (offset gaps resync; assistant.completed has it all), a
    final frame is not: it evicts the oldest queued delta instead of being dropped. A channel full of frames
    that cannot be resent loses the next one, and says so in the log and the metrics."""
    settings.CHANNEL_LAYERS = in_memory_layer(capacity=3)
    layer = get_channel_layer()
    stalled = await layer.new_channel()
    await layer.group_add("conversation.1", stalled)
    before = {kind: dropped(kind) for kind in ("delta", "evicted", "frame")}

    frame = layer_frame
    for n in range(4):  # the fourth delta comes past the capacity: dropped, recoverable
        await layer.group_send("conversation.1", frame("assistant.delta", n))
    await layer.group_send("conversation.1", frame("assistant.completed", 0))
    await layer.group_send("conversation.1", frame("turn.finished", 0))
    held = [(await asyncio.wait_for(layer.receive(stalled), 5))["frame"] for _ in range(3)]
    assert [(f["type"], f["offset"]) for f in held] == [
        ("assistant.delta", 2), ("assistant.completed", 0), ("turn.finished", 0),
    ]

    for n in range(3):
        await layer.group_send("conversation.1", frame("tool.finished", n))
    await layer.group_send("conversation.1", frame("turn.finished", 9))  # nothing recoverable to make room for it
    assert "a turn.finished frame was dropped" in caplog.text
    assert {kind: dropped(kind) - before[kind] for kind in before} == {"delta": 1, "evicted": 2, "frame": 1}


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL): runs in make test's scale-out pass")
async def test_under_redis_a_socket_of_another_process_at_capacity_keeps_its_final_frame(settings):
    """CHANNEL_CAPACITY holds per socket under REDIS_URL too: a frame that crossed from another process into a
    full channel evicts queued reply text as in memory, each drop counted, while the sender's own socket
    gets everything."""
    from chat.layers import RedisChannelLayer

    config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "capacity": 2}
    behind, layer = RedisChannelLayer(**config), RedisChannelLayer(**config)  # two processes
    stalled, reading = await behind.new_channel(), await layer.new_channel()
    before = {kind: dropped(kind) for kind in ("delta", "evicted", "frame")}
    try:
        await behind.group_add("conversation.1", stalled)
        await layer.group_add("conversation.1", reading)
        sent = [("assistant.delta", 1), ("assistant.delta", 2), ("turn.finished", 3)]
        for kind, n in sent:
            await layer.group_send("conversation.1", layer_frame(kind, n))
            assert (await asyncio.wait_for(layer.receive(reading), 5))["frame"]["offset"] == n  # the sender's own socket
        held = [(await asyncio.wait_for(behind.receive(stalled), 5))["frame"] for _ in range(2)]
        assert [(f["type"], f["offset"]) for f in held] == [("assistant.delta", 2), ("turn.finished", 3)]
        assert {kind: dropped(kind) - before[kind] for kind in before} == {"delta": 0, "evicted": 1, "frame": 0}
    finally:
        for each in (behind, layer):
            await each.close()


async def test_a_socket_whose_channel_was_full_when_reply_text_came_still_streams_the_whole_text(
    user, use_providers, settings, monkeypatch
):
    """What CHANNEL_CAPACITY's docs promise at capacity: the layer drops the delta for the socket that fell
    behind, and the socket notices the offset gap at the next delta and gets the missing text from the turn,
    so the text it streams is whole before the reply completes."""
    settings.CHANNEL_LAYERS = in_memory_layer(capacity=2)
    layer = get_channel_layer()
    deliver = layer.deliver
    overflowed, started = asyncio.Event(), {}

    def send(channel: str, message: dict) -> None:
        frame = message.get("frame", {})
        if frame.get("type") == "assistant.started":
            started["event"] = message
        if frame.get("type") == "assistant.delta" and not overflowed.is_set():
            # The socket fell `capacity` frames behind just as the reply's first text comes: its channel
            # holds copies of a frame it already has (it drops them when it reads them), and nothing else.
            queue = layer.channels.setdefault(channel, asyncio.Queue(maxsize=layer.get_capacity(channel)))
            while not queue.full():
                queue.put_nowait((time.time() + layer.expiry, started["event"]))
            overflowed.set()
        deliver(channel, message)  # the layer's own delivery, to the full channel

    monkeypatch.setattr(layer, "deliver", send)
    with FakeLLMServer() as fake:
        use_providers({**PRIMARY, "base_url": fake.base_url})
        fake.script(text_reply("Lost on the way ", Hold("gap"), "and found ", Hold("end"), "again."))
        async with connected(user) as comm:
            await send_message(comm, "hello")
            frames: list = []
            await receive_frame(comm, "assistant.started", seen=frames)
            await asyncio.wait_for(overflowed.wait(), 10)
            await asyncio.to_thread(fake.wait_until_held, "gap")
            fake.release("gap")  # the next text comes past the gap: the socket asks the turn for all of it
            await asyncio.to_thread(fake.wait_until_held, "end")
            caught_up = await receive_frame(comm, "assistant.delta", seen=frames)
            fake.release("end")
            await receive_turn(comm, seen=frames)

    assert (caught_up["offset"], caught_up["text"]) == (0, "Lost on the way and found ")  # nothing was lost
    streamed = frames[: frames.index(final_reply(frames))]  # what the socket showed while the reply was written
    assert reply_text(streamed) == "Lost on the way and found again."
    assert final_reply(frames)["text"] == "Lost on the way and found again."


def _settings_loaded(tmp_path, **variables: str) -> dict:
    """chatsite/settings.py imported in a fresh process, production-style (no .env, no test settings), with
    these variables; only read, so a database or Redis URL is never connected to."""
    script = (
        "import json, chatsite.settings as s; "
        "print(json.dumps({'layers': s.CHANNEL_LAYERS, 'database': s.DATABASES['default']}, default=str))"
    )
    tmp_path.mkdir()
    checkout = settings_checkout(tmp_path)
    env = bare_environment(SECRET_KEY="settings-test", ALLOWED_HOSTS="x", **variables)
    done = subprocess.run([sys.executable, "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_channel_capacity_and_the_redis_and_pool_settings_reach_what_they_configure(tmp_path):
    """docs/configuration.md "Scale-out": CHANNEL_CAPACITY sizes both layers' channels; under REDIS_URL the
    layer is the project's Redis layer, whose commands count Redis as down after 5 s
    (REDIS_SOCKET_TIMEOUT_SECONDS); DATABASE_POOL gives psycopg's pool of 2 to 10 and no CONN_MAX_AGE of Django's own."""
    memory = _settings_loaded(tmp_path / "memory", CHANNEL_CAPACITY="7")
    assert memory["layers"]["default"] == {"BACKEND": "chat.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 7}}
    assert (memory["database"]["CONN_MAX_AGE"], memory["database"]["CONN_HEALTH_CHECKS"]) == (600, True)

    nowhere = "redis://127.0.0.1:1/0"  # read, never connected to
    redis = _settings_loaded(tmp_path / "redis", REDIS_URL=nowhere, CHANNEL_CAPACITY="7")["layers"]["default"]
    assert redis["BACKEND"] == "chat.layers.RedisChannelLayer"
    assert redis["CONFIG"] == {"url": nowhere, "prefix": "chatsite", "capacity": 7, "socket_timeout": 5.0}

    pooled = _settings_loaded(tmp_path / "pool", DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DATABASE_POOL="true")
    assert pooled["database"]["CONN_MAX_AGE"] == 0
    assert pooled["database"]["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10}


@pytest.mark.parametrize(("variables", "message"), [
    ({"DATABASE_POOL": "true"}, "DATABASE_POOL needs a PostgreSQL DATABASE_URL."),
    ({"HTTP_THREADS": "0"}, "HTTP_THREADS must be at least 1, not 0."),
], ids=["a database pool without postgresql", "no thread for http requests"])
def test_a_setting_that_cannot_work_stops_the_start_naming_it(variables, message, tmp_path):
    script = "import chatsite.settings"
    env = bare_environment(SECRET_KEY="settings-test", ALLOWED_HOSTS="x", **variables)
    done = subprocess.run([sys.executable, "-c", script], cwd=settings_checkout(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and f"ImproperlyConfigured: {message}" in done.stderr


# Production defaults: the value each documented setting takes with no variable set (docs/configuration.md,
# docs/documents.md, docs/tools.md). A changed default without its docs, or docs without the change, fails here.
DOCUMENTED_DEFAULTS = {
    "DEBUG": False,
    "CHAT_MAX_MESSAGE_CHARS": 8000,
    "CHAT_MAX_FRAME_BYTES": 65536,
    "CHAT_MAX_TOOL_ROUNDS": 8,
    "CHAT_RATE_LIMIT_MESSAGES": 20,
    "CHAT_RATE_LIMIT_WINDOW_SECONDS": 60.0,
    "CHAT_MAX_SOCKETS_PER_PERSON": 20,
    "CHAT_MAX_CONCURRENT_REPLIES": 5,
    "CHAT_REPLAY_MESSAGES": 200,
    "CHAT_REPLAY_MAX_CHARS": 500000,
    "CHAT_REPLAYS_PER_MINUTE": 60,
    "CHAT_SAVE_INTERVAL_SECONDS": 0.25,
    "CHAT_HISTORY_MAX_MESSAGES": 400,
    "CHAT_HISTORY_MAX_CHARS": 200_000,
    "CHAT_TURN_LEASE_SECONDS": 30.0,
    "CHAT_TURN_SWEEP_SECONDS": 15.0,
    "CHAT_SHUTDOWN_SECONDS": 2.5,
    "CHAT_MAX_PARTICIPANTS": 4,
    "CHAT_MAX_DISCUSSION_ROUNDS": 5,
    "CHAT_SESSION_RECHECK_SECONDS": 60.0,
    "CHAT_SOCKET_LEASE_SECONDS": 180.0,
    "CHAT_CALCULATOR_TIMEOUT_SECONDS": 2.0,
    "DEMO_TOKEN_DELAY_SECONDS": 0.03,
    "SSE_KEEPALIVE_SECONDS": 15.0,
    "SSE_MAX_SECONDS": 600.0,
    "METRICS_TOKEN": "",
    "METRICS_ALLOW_FROM": [],
    "LLM_PROVIDERS": "",
    "MCP_BUILTIN_ENABLED": True,
    "DOCUMENTS_ENABLED": True,
    "DOCUMENTS_MAX_FILE_BYTES": 10 * 1024 * 1024,
    "DOCUMENTS_MAX_TOTAL_BYTES": 100 * 1024 * 1024,
    "DOCUMENTS_MAX_PAGES": 1000,
    "DOCUMENTS_MAX_TEXT_CHARS": 2_000_000,
    "DOCUMENTS_EXTRACT_TIMEOUT_SECONDS": 30.0,
    "DOCUMENTS_PER_CONVERSATION": 10,
    "DOCUMENTS_QUOTE_BUDGET_CHARS": 24_000,
    "DOCUMENTS_SEARCH_RESULTS": 5,
    "VOICE_MAX_SECONDS": 60.0,
    "VOICE_MAX_BYTES": 4 * 1024 * 1024,
    "VOICE_MAX_CHUNK_BYTES": 65536,
    "STT_PROVIDER": "pocketsphinx",
    "TTS_PROVIDER": "espeak",
    "SESSION_COOKIE_SECURE": False,
    "SECURE_HSTS_SECONDS": 0,
    "HTTPS": False,
    "SECURE_SSL_REDIRECT": False,
    "SERVE_STATIC": False,
    "HTTP_THREADS": 4,
    "CSRF_TRUSTED_ORIGINS": [],
    "CORS_ALLOWED_ORIGINS": [],
    "AXES_FAILURE_LIMIT": 5,
    "AXES_COOLOFF_TIME": "0:15:00",  # AXES_COOLOFF_MINUTES 15
    "API_RATE_LIMIT_PER_MINUTE": 60,
    "DATA_UPLOAD_MAX_MEMORY_SIZE": 262144,
    "LOG_FORMAT": "text",
    "LOG_MESSAGE_TEXT": False,
    "READY_CHECK_SECONDS": 2.0,
    "CACHE_KEY_PREFIX": "chatsite",
    "SQLITE_SYNCHRONOUS": "NORMAL",
    "CHANNEL_CAPACITY": 10000,
    "MCP_CALL_TIMEOUT_SECONDS": 30.0,
    "MCP_LIST_TIMEOUT_SECONDS": 10.0,
    "MCP_RETRY_AFTER_SECONDS": 30.0,
    "MCP_CONFIRM_TIMEOUT_SECONDS": 120.0,
    "MCP_MAX_RESULT_CHARS": 20000,
    "STT_MODEL": "whisper-1",
    "STT_TIMEOUT_SECONDS": 60.0,
    "TTS_MODEL": "tts-1",
    "TTS_VOICE": "alloy",
    "TTS_TIMEOUT_SECONDS": 60.0,
    "TTS_MAX_CHARS": 4000,
}


def test_production_defaults_are_the_documented_ones(tmp_path):
    names = sorted(DOCUMENTED_DEFAULTS)
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    checkout = settings_checkout(tmp_path)  # no .env there, whatever `make run` wrote in the repository
    env = bare_environment(SECRET_KEY="defaults-test", ALLOWED_HOSTS="x")  # the two production must set
    done = subprocess.run([sys.executable, "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == DOCUMENTED_DEFAULTS


async def test_a_long_conversation_sends_the_model_only_its_newest_messages(user, model, settings):
    settings.CHAT_HISTORY_MAX_MESSAGES = 3
    for n in range(3):
        model.says(f"answer {n}")
    async with connected(user) as comm:
        first = await run_turn(comm, "question 0")
        cid = first[-1]["conversation_id"]
        await run_turn(comm, "question 1", cid)
        await run_turn(comm, "question 2", cid)
    within, beyond = model.requests[1]["messages"], model.requests[2]["messages"]
    assert [m["content"] for m in within[1:]] == ["question 0", "answer 0", "question 1"]  # 3: all of it
    assert [m["content"] for m in beyond[1:]] == ["question 1", "answer 1", "question 2"]  # the newest 3
    assert "Earlier messages of this conversation are not included" in beyond[0]["content"]
    assert "Earlier messages" not in within[0]["content"]
