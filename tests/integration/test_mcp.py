"""The MCP layer through the real application: a socket, a mocked OpenAI-compatible LLM, real MCP servers.

Servers are real MCPServer instances reached in memory, over stdio in a subprocess and over streamable
HTTP on a free loopback port. The LLM is mocked with `responses` in the real OpenAI streaming format;
each test scripts what the model does and reads the requests it received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from mcp.server.mcpserver import Context, MCPServer

from chat import tools
from chat.tools.config import memory_server, parse_servers
from chat.tools.hub import Hub
from tests.support.mcp_servers import (
    PROBE_LOG_ENV,
    installed_hub,
    probe_server,
    read_probe_log,
    serve_http,
    silent_stdio_config,
    stdio_config,
)
from tests.support.ports import free_port
from tests.support.scripted_model import ScriptedModel, probe_hub
from tests.support.socket import connected, of_type, receive_frame, receive_turn, run_turn, send, send_message

pytestmark = pytest.mark.django_db(transaction=True)

def finished(frames: list[dict[str, Any]]) -> dict[str, Any]:
    results = of_type(frames, "tool.finished")
    assert len(results) == 1, f"expected one tool.finished frame, got {results}"
    return results[0]


# --- a call reaches the server and its result reaches the model -------------------------------------


@asynccontextmanager
async def reached_in_memory(tmp_path: Path) -> AsyncIterator[Any]:
    server, probe = probe_server()
    async with installed_hub(extra={"probe": memory_server("probe", server)}):
        yield lambda: probe.calls


@asynccontextmanager
async def reached_over_stdio(tmp_path: Path) -> AsyncIterator[Any]:
    log = tmp_path / "probe.jsonl"
    configs = parse_servers({"mcpServers": {"probe": stdio_config("probe", env={PROBE_LOG_ENV: str(log)})}})
    async with installed_hub(configs):
        yield lambda: read_probe_log(log)


@asynccontextmanager
async def reached_over_http(tmp_path: Path) -> AsyncIterator[Any]:
    server, probe = probe_server()
    with serve_http(server) as url:
        async with installed_hub(parse_servers({"mcpServers": {"probe": {"url": url}}})):
            yield lambda: probe.calls


@pytest.mark.parametrize("transport", [reached_in_memory, reached_over_stdio, reached_over_http])
async def test_a_tool_call_reaches_the_server_with_the_exact_arguments_and_the_client_sees_the_result(
    user: Any, model: ScriptedModel, tmp_path: Path, transport: Any
) -> None:
    arguments = {"text": "héllo <b>", "times": 2}
    model.calls("probe__echo", arguments).says("Done.")
    async with transport(tmp_path) as received, connected(user) as comm:
        frames = await run_turn(comm, "echo it twice", timeout=15)
        assert received() == [("echo", arguments)]
    started, result = of_type(frames, "tool.started")[0], finished(frames)
    assert frames.index(started) < frames.index(result)
    assert (started["name"], started["server"], started["tool"], started["arguments"]) == (
        "probe__echo", "probe", "echo", arguments
    )
    assert (result["result"], result["is_error"], result["kind"]) == ("héllo <b>héllo <b>", False, "result")
    assert of_type(frames, "assistant.completed")[-1]["text"] == "Done."


async def test_the_tool_result_is_passed_to_the_model_in_the_next_request(user: Any, model: ScriptedModel) -> None:
    model.calls("probe__add", {"a": 2, "b": 40}).says("It is 42.")
    async with probe_hub(), connected(user) as comm:
        await run_turn(comm, "add 2 and 40")
    assert len(model.requests) == 2
    assert {"probe__add", "builtin__calculator"} <= model.tool_names(0)
    assert json.loads(model.tool_message(1)) == {"a": 2, "b": 40, "sum": 42}


async def test_a_long_result_reaches_the_model_truncated_with_a_visible_marker(
    user: Any, model: ScriptedModel, settings: Any
) -> None:
    settings.MCP_MAX_RESULT_CHARS = 1000
    model.calls("probe__big", {"chars": 5000}).says("That was long.")
    async with probe_hub(), connected(user) as comm:
        result = finished(await run_turn(comm, "something big"))
    assert result["result"].startswith("x" * 1000)
    assert "[… truncated: 4000 of 5000 characters not shown]" in result["result"]
    assert "truncated: 4000 of 5000" in model.tool_message(1)


# --- every failure becomes an error result, and the conversation goes on -----------------------------


async def test_a_tool_that_raises_passes_an_error_result_to_the_model_and_the_conversation_continues(
    user: Any, model: ScriptedModel
) -> None:
    model.calls("probe__fail", {"message": "disk is full"}).says("The tool failed: disk is full.")
    model.says("Still here.")
    async with probe_hub(), connected(user) as comm:
        frames = await run_turn(comm, "try the failing tool")
        follow_up = await run_turn(comm, "are you there?", frames[0]["conversation_id"])
    result = finished(frames)
    assert (result["is_error"], result["kind"]) == (True, "error")
    assert "disk is full" in result["result"]
    assert "disk is full" in model.tool_message(1)
    assert of_type(frames, "assistant.completed")[-1]["status"] == "complete"
    assert of_type(follow_up, "assistant.completed")[-1]["text"] == "Still here."


@pytest.mark.parametrize(
    ("name", "arguments", "kind", "said"),
    [
        ("probe__no_such_tool", {}, "unknown", "Unknown tool: probe__no_such_tool"),
        ("nowhere__echo", {"text": "x"}, "unknown", "Unknown tool: nowhere__echo"),
        ("probe__echo", {"text": "x", "times": "two"}, "invalid", "times: 'two' is not of type 'integer'"),
        ("probe__echo", {"times": 2}, "invalid", "'text' is a required property"),
    ],
)
async def test_unknown_tools_and_schema_invalid_arguments_become_error_results_without_reaching_the_server(
    user: Any, model: ScriptedModel, name: str, arguments: dict[str, Any], kind: str, said: str
) -> None:
    model.calls(name, arguments).says("Sorry, that did not work.")
    async with probe_hub() as (_, probe), connected(user) as comm:
        frames = await run_turn(comm, "call something odd")
    result = finished(frames)
    assert (result["is_error"], result["kind"]) == (True, kind)
    assert said in result["result"] and said in model.tool_message(1)
    assert probe.calls == []
    assert of_type(frames, "assistant.completed")[-1]["text"] == "Sorry, that did not work."


async def test_a_tool_that_hangs_is_cancelled_at_its_deadline_and_the_turn_finishes(user: Any, model: ScriptedModel) -> None:
    model.calls("probe__hang", {}).says("It took too long.")
    async with probe_hub(timeout=0.5) as (_, probe), connected(user) as comm:
        frames = await run_turn(comm, "wait forever", timeout=5)
        await probe.wait(probe.hang_cancelled, "that the hanging call was cancelled")
    result = finished(frames)
    assert (result["is_error"], result["kind"]) == (True, "timeout")
    assert "timed out after 0.5 s" in result["result"] and "timed out" in model.tool_message(1)
    assert of_type(frames, "assistant.completed")[-1]["status"] == "complete"


async def test_a_hanging_http_tool_is_cancelled_on_the_server_too(user: Any, model: ScriptedModel) -> None:
    server, probe = probe_server()
    model.calls("web__hang", {}).says("Gave up.")
    with serve_http(server) as url:
        async with installed_hub(parse_servers({"mcpServers": {"web": {"url": url, "timeout": 0.5}}})):
            async with connected(user) as comm:
                result = finished(await run_turn(comm, "wait forever", timeout=5))
            await probe.wait(probe.hang_cancelled, "that the HTTP request of the hanging call was cancelled")
    assert result["kind"] == "timeout"


async def test_stopping_the_reply_during_a_tool_call_cancels_the_call_on_the_server(user: Any, model: ScriptedModel) -> None:
    model.calls("probe__hang", {})
    async with probe_hub() as (_, probe), connected(user) as comm:
        frames: list[dict[str, Any]] = []
        await send_message(comm, "wait forever")
        started = await receive_frame(comm, "tool.started", seen=frames)
        await probe.wait(probe.hang_started, "that the hanging call started")
        await send(comm, "generation.stop", conversation_id=started["conversation_id"])
        result = await receive_frame(comm, "tool.finished", seen=frames)
        await probe.wait(probe.hang_cancelled, "that the stopped call was cancelled")
    assert (result["is_error"], result["kind"]) == (True, "stopped")
    assert len(model.requests) == 1, "the model was asked again after the person stopped the reply"


async def test_a_stdio_server_that_exits_mid_call_gives_an_error_result_and_the_next_call_restarts_it(
    user: Any, model: ScriptedModel, tmp_path: Path
) -> None:
    model.calls("probe__pid", {}, "call_1").calls("probe__crash", {}, "call_2").says("It crashed.")
    model.calls("probe__pid", {}, "call_3").says("Back again.")
    configs = parse_servers({"mcpServers": {"probe": stdio_config("probe", timeout=10)}})
    async with installed_hub(configs), connected(user) as comm:
        first = await run_turn(comm, "crash it", timeout=15)
        second = await run_turn(comm, "again", first[0]["conversation_id"], timeout=15)
    before, crash = of_type(first, "tool.finished")
    after = finished(second)
    assert (crash["is_error"], crash["kind"]) == (True, "unavailable")
    assert "closed the connection" in crash["result"] and "closed the connection" in model.tool_message(2, "call_2")
    assert not after["is_error"] and int(after["result"]) != int(before["result"])


async def test_a_server_that_is_down_at_start_does_not_hide_the_built_in_tools(
    user: Any, model: ScriptedModel, settings: Any, tmp_path: Path
) -> None:
    servers_file = tmp_path / "mcp.json"
    servers_file.write_text(json.dumps({"mcpServers": {
        "remote": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
        "local": {"command": str(tmp_path / "no-such-server")},
        "silent": silent_stdio_config(),
    }}))
    settings.MCP_SERVERS_FILE = str(servers_file)
    settings.MCP_LIST_TIMEOUT_SECONDS = 0.5  # "silent" starts but never answers: its listing is cut off
    model.calls("builtin__calculator", {"expression": "12*7"}, "call_1").calls("remote__search", {}, "call_2").says("84")
    try:
        async with connected(user) as comm:
            frames = await run_turn(comm, "what is 12*7", timeout=15)
    finally:
        await tools.close_hub()
        tools.reset_hub()
    offered = model.tool_names(0)
    assert "builtin__calculator" in offered
    assert not any(name.startswith(("remote__", "local__", "silent__")) for name in offered)
    calculator, remote = of_type(frames, "tool.finished")
    assert (calculator["result"], calculator["is_error"]) == ("84", False)
    assert (remote["is_error"], remote["kind"]) == (True, "unavailable")
    assert "cannot reach the server" in remote["result"]


async def test_a_server_that_announces_new_tools_has_them_offered_in_the_next_request(
    user: Any, model: ScriptedModel
) -> None:
    model.calls("probe__add_tool", {"tool_name": "fresh"}).says("Added.")
    async with probe_hub(), connected(user) as comm:
        await run_turn(comm, "add a tool")
    assert "probe__fresh" not in model.tool_names(0)
    assert "probe__fresh" in model.tool_names(1)


# --- confirmation -----------------------------------------------------------------------------------


async def ask_to_delete(comm: Any, frames: list[dict[str, Any]]) -> dict[str, Any]:
    await send_message(comm, "delete /tmp/report.txt")
    return await receive_frame(comm, "tool.confirmation_requested", seen=frames)


async def test_allowing_a_tool_that_needs_confirmation_runs_it(user: Any, model: ScriptedModel) -> None:
    model.calls("probe__delete_file", {"path": "/tmp/report.txt"}).says("Deleted.")
    async with probe_hub(confirm=["delete_file"]) as (_, probe), connected(user) as comm:
        frames: list[dict[str, Any]] = []
        asked = await ask_to_delete(comm, frames)
        assert probe.calls == [], "the tool ran before the person answered"
        await send(comm, "tool.confirm", conversation_id=asked["conversation_id"], call_id=asked["call_id"], allow=True)
        await receive_turn(comm, seen=frames)
    assert (asked["name"], asked["arguments"]) == ("probe__delete_file", {"path": "/tmp/report.txt"})
    assert asked["timeout_seconds"] == django_settings.MCP_CONFIRM_TIMEOUT_SECONDS
    assert probe.calls == [("delete_file", {"path": "/tmp/report.txt"})]
    assert (finished(frames)["result"], finished(frames)["kind"]) == ("deleted /tmp/report.txt", "result")


@pytest.mark.parametrize("answer", ["deny", "no answer"])
async def test_a_denied_or_unanswered_confirmation_does_not_run_the_tool_and_the_model_is_told(
    user: Any, model: ScriptedModel, settings: Any, answer: str
) -> None:
    settings.MCP_CONFIRM_TIMEOUT_SECONDS = 0.3 if answer == "no answer" else 30
    model.calls("probe__delete_file", {"path": "/tmp/report.txt"}).says("I did not delete it.")
    async with probe_hub(confirm=True) as (_, probe), connected(user) as comm:
        frames: list[dict[str, Any]] = []
        asked = await ask_to_delete(comm, frames)
        if answer == "deny":
            await send(comm, "tool.confirm", conversation_id=asked["conversation_id"], call_id=asked["call_id"], allow=False)
        await receive_turn(comm, seen=frames)
    result = finished(frames)
    assert (result["is_error"], result["kind"]) == (True, "declined")
    assert "declined by the user" in result["result"] and "declined by the user" in model.tool_message(1)
    assert probe.calls == []


async def test_only_the_tools_marked_in_the_config_ask_for_confirmation(user: Any, model: ScriptedModel) -> None:
    model.calls("probe__echo", {"text": "hi"}).says("Echoed.")
    async with probe_hub(confirm=["delete_file"]), connected(user) as comm:
        frames = await run_turn(comm, "echo hi")
    assert of_type(frames, "tool.confirmation_requested") == []
    assert finished(frames)["result"] == "hi"


# --- configuration ----------------------------------------------------------------------------------


def test_a_bad_mcp_servers_file_stops_the_site_from_starting_with_a_clear_message(tmp_path: Path) -> None:
    servers_file = tmp_path / "mcp.json"
    servers_file.write_text(json.dumps({"mcpServers": {"files": {"command": "files-server", "args": "--root /"}}}))
    environment = {**os.environ, "MCP_SERVERS_FILE": str(servers_file), "SECRET_KEY": "x", "ALLOWED_HOSTS": "localhost"}
    started = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=django_settings.BASE_DIR, env=environment,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert started.returncode != 0, started.stdout
    assert "ImproperlyConfigured: MCP server 'files': field 'args': Input should be a valid list" in started.stderr



async def test_configured_headers_reach_an_http_server_and_env_references_are_filled_in(monkeypatch) -> None:
    server = MCPServer("guarded")

    @server.tool()
    async def whoami(ctx: Context) -> str:  # type: ignore[type-arg]
        request = ctx.request_context.request
        return request.headers.get("authorization", "none") if request is not None else "no request"

    monkeypatch.setenv("GUARDED_TOKEN", "s3cret")
    with serve_http(server) as url:
        configs = parse_servers({"mcpServers": {"guarded": {"url": url, "headers": {"Authorization": "Bearer ${GUARDED_TOKEN}"}}}})
        hub = Hub(configs)
        try:
            result = await hub.call("guarded__whoami", {})
        finally:
            await hub.aclose()
    assert (result.is_error, result.text) == (False, "Bearer s3cret")
