"""Every documented limit at its exact boundary (at the limit accepted, one past refused), the system
prompt setting reaching the model, and the production defaults as documented in docs/configuration.md,
read from settings loaded in a fresh process with none of the variables set."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from chat.testing.api import assert_problem, bearer_client, post
from chat.testing.checkout import bare_environment, settings_checkout
from chat.testing.scripted_model import probe_hub
from chat.testing.socket import connected, final_reply, receive_frame, run_turn, send_message
from chat.testing.stored import stored

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


# Production defaults: the value each documented setting takes with no variable set (docs/configuration.md,
# docs/documents.md). A changed default without its docs, or docs without the change, fails here.
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
