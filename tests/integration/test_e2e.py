"""The whole system at communicator level: a logged-in socket, the real application, the LLM mocked with
`responses` in OpenAI's real streaming format, and real MCP servers (the built-in one in memory, the test
server over stdio in a subprocess). One tool request, end to end, down to the stored rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chat.tools.config import parse_servers
from tests.support.mcp_servers import PROBE_LOG_ENV, installed_hub, read_probe_log, stdio_config
from tests.support.scripted_model import ScriptedModel
from tests.support.socket import connected, of_type, receive_frame, reply_text, run_turn, send
from tests.support.stored import stored
from tests.support.wire import openai_sse, openai_text_chunks, openai_tool_call_chunks, openai_usage_chunk

pytestmark = pytest.mark.django_db(transaction=True)


@asynccontextmanager
async def mcp_servers(tmp_path: Path) -> AsyncIterator[Path]:
    """The built-in server in memory plus the recording test server over stdio; yields its call log."""
    log = tmp_path / "calls.jsonl"
    configs = parse_servers({"mcpServers": {"testing": stdio_config("testing", env={PROBE_LOG_ENV: str(log)})}})
    async with installed_hub(configs):
        yield log


def tool_call_body(call_id: str, name: str, arguments: dict[str, Any]) -> str:
    encoded = json.dumps(arguments)
    third = max(1, len(encoded) // 3)
    parts = [encoded[:third], encoded[third : 2 * third], encoded[2 * third :]]
    return openai_sse([*openai_tool_call_chunks(call_id, name, parts, model="m"), openai_usage_chunk(30, 9, model="m")])


def text_body(*parts: str) -> str:
    return openai_sse([*openai_text_chunks(parts, model="m"), openai_usage_chunk(40, 6, model="m")])


CASES = [
    pytest.param("builtin__calculator", {"expression": "12*7"}, "84", [], id="built-in server in memory"),
    pytest.param(
        "testing__echo",
        {"text": "ab", "times": 3},
        "ababab",
        [("echo", {"text": "ab", "times": 3})],
        id="test server over stdio",
    ),
]


@pytest.mark.parametrize(("tool", "arguments", "result", "server_saw"), CASES)
async def test_a_tool_request_runs_the_tool_and_stores_user_assistant_tool_assistant(
    user: Any, model: ScriptedModel, tmp_path: Path, tool: str, arguments: dict[str, Any], result: str, server_saw: list
) -> None:
    model.streams(tool_call_body("call_e2e", tool, arguments), text_body("The answer ", f"is {result}."))
    async with mcp_servers(tmp_path) as calls_log, connected(user) as comm:
        frames = await run_turn(comm, "please use the tool", timeout=20)
        assert read_probe_log(calls_log) == server_saw

    kinds = [(f["type"], f.get("seq")) for f in frames if f["type"] != "assistant.delta"]
    assert kinds == [
        ("conversation.created", None),
        ("message.created", 1),
        ("assistant.started", 2),
        ("assistant.completed", 2),
        ("tool.started", 3),
        ("tool.finished", 3),
        ("assistant.started", 4),
        ("assistant.completed", 4),
        ("turn.finished", 4),
    ], f"frames out of order: {kinds}"
    finished = of_type(frames, "tool.finished")[0]
    assert (finished["name"], finished["arguments"], finished["result"], finished["is_error"]) == (
        tool,
        arguments,
        result,
        False,
    )
    final = of_type(frames, "assistant.completed")[-1]
    assert (final["status"], final["text"]) == ("complete", f"The answer is {result}.")
    assert reply_text(frames, seq=4) == final["text"]
    assert f"is {result}." in final["html"]

    tool_message = model.requests[1]["messages"][-1]
    assert tool_message == {"role": "tool", "tool_call_id": "call_e2e", "content": result}

    rows = await stored(frames[0]["conversation_id"])
    assert [(m.seq, m.role, m.status) for m in rows] == [
        (1, "user", "complete"),
        (2, "assistant", "complete"),
        (3, "tool", "complete"),
        (4, "assistant", "complete"),
    ]
    assert rows[0].content == "please use the tool"
    assert rows[1].tool_calls == [{"id": "call_e2e", "name": tool, "arguments": arguments}]
    assert (rows[2].tool_call_id, rows[2].tool_name, rows[2].content, rows[2].is_error) == (
        "call_e2e",
        tool,
        result,
        False,
    )
    assert (rows[3].content, rows[3].provider) == (f"The answer is {result}.", "fake")


async def test_a_reopened_conversation_replays_exactly_what_was_stored(
    user: Any, model: ScriptedModel, tmp_path: Path
) -> None:
    model.streams(tool_call_body("call_r", "builtin__calculator", {"expression": "6*7"}), text_body("It is ", "42."))
    async with mcp_servers(tmp_path), connected(user) as comm:
        frames = await run_turn(comm, "what is 6*7", timeout=20)
    conversation_id = frames[0]["conversation_id"]

    async with connected(user) as again:
        seen: list[dict[str, Any]] = []
        await send(again, "conversation.open", conversation_id=conversation_id, last_seq=0)
        await receive_frame(again, "assistant.completed", where=lambda f: f["seq"] == 4, seen=seen)

    replayed = [(f["type"], f.get("seq")) for f in seen]
    assert replayed == [
        ("conversation.opened", None),
        ("message.created", 1),
        ("assistant.completed", 2),
        ("tool.finished", 3),
        ("assistant.completed", 4),
    ]
    assert seen[3]["result"] == "42" and (seen[4]["status"], seen[4]["text"]) == ("complete", "It is 42.")
