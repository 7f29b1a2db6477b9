"""Structured logs: each line carries the conversation, turn and request ids, and no message text by default."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from chat import tools
from chat.logcontext import ContextFilter, JsonFormatter
from tests.support.daphne import offline_site_env, start_daphne
from tests.support.live_socket import live_socket, receive, send_message
from tests.support.scripted_model import ScriptedModel
from tests.support.socket import connected, of_type, run_turn, session_cookie

SECRET_TEXT = "papaya-7f3a"  # in the message, the tool's arguments, the tool's error and the reply


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The `chat` loggers' lines, as the settings' JSON handler writes them (LOG_MESSAGE_TEXT off)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(message_text=False))
    logger = logging.getLogger("chat")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
async def test_a_turn_logs_json_lines_with_its_ids_and_never_the_message_text(
    user: Any, model: ScriptedModel, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
):
    async def tool_that_quotes_its_arguments(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        raise RuntimeError(f"could not handle {arguments}")

    monkeypatch.setattr(tools.get_hub(), "call", tool_that_quotes_its_arguments)
    model.calls("builtin__calculator", {"expression": SECRET_TEXT}).says(f"Sorry, {SECRET_TEXT} failed.")
    async with connected(user) as comm:
        frames = await run_turn(comm, f"please compute {SECRET_TEXT}")
    conversation_id = of_type(frames, "turn.finished")[0]["conversation_id"]

    output = json_log.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    by_message = {line["message"]: line for line in lines}
    started, finished = by_message["Turn started: 1 speaker(s)"], by_message["Turn finished: complete"]
    assert started["conversation_id"] == finished["conversation_id"] == conversation_id
    assert started["turn_id"] and started["turn_id"] == finished["turn_id"]
    assert started["request_id"], "the frame that started the turn has an id"
    failed = next(line for line in lines if line["message"].startswith("Tool call builtin__calculator"))
    assert failed["level"] == "ERROR" and failed["turn_id"] == started["turn_id"]
    assert "RuntimeError: (message withheld" in failed["exception"]
    assert SECRET_TEXT not in output, "message text, tool arguments or a tool's error reached the log"


def test_log_format_json_gives_json_lines_text_is_the_default_and_tracebacks_withhold_their_message():
    script = (
        "import django, logging; django.setup(); from chat import logcontext;"
        "logcontext.bind(conversation_id=42, turn_id='t1'); logging.getLogger('chat.anything').warning('hello')"
    )
    failing = (
        "import django, logging; django.setup()\ntry:\n    raise ValueError('" + SECRET_TEXT + "')\n"
        "except ValueError:\n    logging.getLogger('chat.anything').exception('it broke')"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "LOG_MESSAGE_TEXT"}}
    env["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"

    def run(code: str = script, **extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=60, check=True,
        )
        return done.stderr.strip()

    # Four interpreters at once: each spends a second importing the site, and waits for nothing else.
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(run, LOG_FORMAT="json"), pool.submit(run), pool.submit(run, failing),
                pool.submit(run, failing, LOG_MESSAGE_TEXT="true")]
        as_json, text, withheld, whole = (done.result() for done in runs)
    line = json.loads(as_json)
    assert (line["message"], line["conversation_id"], line["turn_id"], line["logger"]) == (
        "hello", 42, "t1", "chat.anything"
    )
    assert text.endswith("WARNING chat.anything [conversation=42 turn=t1] hello"), text

    assert "ValueError: (message withheld" in withheld and 'line 3, in <module>' in withheld
    assert SECRET_TEXT not in withheld and f"ValueError: {SECRET_TEXT}" in whole


def test_an_http_request_gets_an_id_echoed_back_and_keeps_a_sane_one_it_was_given(client: Any):
    given = client.get("/healthz", headers={"X-Request-ID": "req-123"})
    fresh = client.get("/healthz")
    odd = client.get("/healthz", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert given.headers["X-Request-ID"] == "req-123"
    assert len(fresh.headers["X-Request-ID"]) == 16
    assert odd.headers["X-Request-ID"] != "no spaces\tor tabs"


ACCESS_LOG_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+:\d+ - - \[")  # daphne's access log (stdout), not a log record
LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


@pytest.mark.django_db(transaction=True)
async def test_a_real_daphne_with_log_format_json_writes_each_record_once_and_only_as_json(user: Any, tmp_path: Path):
    """Under daphne the root logger already has daphne's handler, and the built-in MCP server (the SDK's
    MCPServer) adds a Rich one where the root has none: each `chat` line used to come out twice, once not JSON."""
    server = start_daphne(offline_site_env(LOG_FORMAT="json"), tmp_path)
    try:
        async with live_socket(server.ws_url, await session_cookie(user)) as ws:
            await send_message(ws, "what is 12*7")  # the demo model calls the built-in calculator
            finished = await receive(ws, "turn.finished")
        assert finished["status"] == "complete", finished
    finally:
        server.stop()
    lines = server.log_tail().splitlines()
    # What a log record looks like in any format (ours, daphne's, Rich's); not the access log or a child's warning
    records = [line for line in lines if LEVEL.search(line) and not ACCESS_LOG_LINE.match(line)]
    not_json = [line for line in records if not line.startswith("{")]
    assert not not_json, f"log records that are not JSON: {not_json}"
    parsed = [json.loads(line) for line in records]
    assert [r["message"] for r in parsed].count("Turn finished: complete") == 1, records
    assert any(r["logger"] == "daphne.server" and r["message"].startswith("Listening on") for r in parsed), records
