"""The mcpServers file: what loads, and the messages an operator gets for what does not."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import select
import socket
import sys
import types
from pathlib import Path
from typing import Any

import mcp_types
import pytest
from django.core.exceptions import ImproperlyConfigured
from mcp.shared.exceptions import MCPError

from chat.tools import check_configuration
from chat.tools import hub as hub_module
from chat.tools.config import load_servers, memory_server, parse_servers
from chat.tools.hub import Hub, build_hub
from chat.tools.results import input_schema, model_facing_name, truncate
from tests.support.mcp_servers import probe_server, serve_http, silent_stdio_config, stdio_config


def servers(**entries: Any) -> dict[str, Any]:
    return {"mcpServers": entries}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_a_stdio_and_an_http_server_load_with_their_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILES_TOKEN", "s3cret")
    loaded = parse_servers(servers(
        files={"command": "npx", "args": ["-y", "server-files", "/tmp"], "env": {"TOKEN": "${FILES_TOKEN}"},
               "timeout": 5, "confirm": ["delete_file"], "tools": {"slow_scan": {"timeout": 120}}},
        search={"type": "http", "url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${env:FILES_TOKEN}"},
                "confirm": True},
    ))
    files, search = loaded["files"], loaded["search"]
    assert (files.transport, files.command, files.args, files.env) == ("stdio", "npx", ("-y", "server-files", "/tmp"), {"TOKEN": "s3cret"})
    assert (files.timeout_for("read_file"), files.timeout_for("slow_scan")) == (5.0, 120.0)
    assert files.needs_confirmation("delete_file") and not files.needs_confirmation("read_file")
    assert (search.transport, search.url, search.headers) == ("http", "https://mcp.example.com/mcp", {"Authorization": "Bearer s3cret"})
    assert search.needs_confirmation("anything")


def test_a_server_without_a_timeout_gets_the_site_default(settings: Any) -> None:
    settings.MCP_CALL_TIMEOUT_SECONDS = 7
    loaded = parse_servers(servers(files={"command": "files-server"}))
    assert loaded["files"].timeout_for("read") == 7.0


def test_a_disabled_server_is_left_out() -> None:
    assert parse_servers(servers(old={"command": "x", "disabled": True}, new={"command": "y"})).keys() == {"new"}


def test_a_disabled_server_is_not_checked_further() -> None:
    """An operator may switch off an entry whose token this machine does not have."""
    entry = {"url": "${MCP_TEST_UNSET_VARIABLE}", "disabled": True}
    assert parse_servers(servers(web=entry)) == {}


def test_keys_other_hosts_write_are_accepted_and_ignored() -> None:
    foreign = {"autoApprove": ["read"], "alwaysAllow": ["read"], "description": "files", "transportType": "stdio", "envFile": ".env"}
    loaded = parse_servers(servers(files={"command": "x", **foreign}))
    assert (loaded["files"].command, loaded["files"].needs_confirmation("read")) == ("x", False)


def test_a_whole_url_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TEST_URL", "https://mcp.example.com/mcp")
    loaded = parse_servers(servers(web={"type": "streamableHttp", "url": "${MCP_TEST_URL}"}))
    assert (loaded["web"].transport, loaded["web"].url) == ("http", "https://mcp.example.com/mcp")


def test_no_file_configured_means_no_servers(settings: Any) -> None:
    settings.MCP_SERVERS_FILE = ""
    assert load_servers() == {}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"files": {"args": ["x"]}}, "MCP server 'files': needs a 'command' (stdio) or a 'url' (HTTP)."),
        ({"files": {"command": ""}}, "MCP server 'files': field 'command': String should not be empty or blank"),
        ({"files": {"command": "x", "args": "--root /"}}, "MCP server 'files': field 'args': Input should be a valid list"),
        ({"files": {"command": "x", "env": {"DEBUG": 1}}}, "MCP server 'files': field 'env.DEBUG': Input should be a valid string"),
        ({"files": {"command": "x", "timeout": 0}}, "MCP server 'files': field 'timeout': Input should be greater than 0"),
        ({"files": {"command": "x", "timeout": 3601}}, "MCP server 'files': field 'timeout': Input should be less than or equal to 3600"),
        ({"files": {"command": "x", "timeout": "30"}}, "MCP server 'files': field 'timeout': Input should be a valid number"),
        ({"files": {"command": "x", "timeout": True}}, "MCP server 'files': field 'timeout': Input should be a valid number"),
        ({"files": {"command": "x", "args": ["--port", 8080]}}, "MCP server 'files': field 'args.1': Input should be a valid string"),
        ({"files": {"command": "x", "confirm": "yes"}}, "MCP server 'files': field 'confirm': must be true, false or a list"),
        ({"files": {"command": "x", "confim": True}}, "MCP server 'files': field 'confim': Extra inputs are not permitted"),
        ({"files": {"command": "x", "url": "http://a/mcp"}}, "MCP server 'files': give either 'command' (stdio) or 'url'"),
        ({"files": {"command": "x", "tools": {"rm": {"confirm": "yes"}}}}, "MCP server 'files': field 'tools.rm.confirm': Input should be a valid boolean"),
        ({"files": {"command": "x", "tools": {"rm": {"confrim": True}}}}, "MCP server 'files': field 'tools.rm.confrim': Extra inputs are not permitted"),
        ({"web": {"url": "ftp://example.com/mcp"}}, "MCP server 'web': field 'url': must be an http:// or https:// URL, got 'ftp://example.com/mcp'"),
        ({"web": {"url": "http://a/mcp", "type": "sse"}}, "MCP server 'web': field 'type': \"sse\" (the legacy SSE transport) is not supported: use a streamable HTTP endpoint"),
        ({"web": {"url": "http://a/mcp", "type": "websocket"}}, "MCP server 'web': field 'type': Input should be 'stdio', 'http'"),
        ({"web": {"url": "http://a/mcp", "headers": ["x"]}}, "MCP server 'web': field 'headers': Input should be a valid dictionary"),
        ({"web": {"url": "http://a/mcp", "command": "x", "type": "http"}}, "MCP server 'web': field 'command': Extra inputs are not permitted"),
        ({"files": {"type": "stdio", "args": ["x"]}}, "MCP server 'files': field 'command': Field required"),
        ({"files": {"command": "x", "disabled": "yes"}}, "MCP server 'files': field 'disabled': Input should be a valid boolean"),
        ({"my__files": {"command": "x"}}, "MCP server 'my__files': the name must be"),
        ({"files": ["x"]}, "MCP server 'files': the entry must be a JSON object."),
        ({"files": {"command": "x", "env": {"KEY": "${MCP_TEST_UNSET_VARIABLE}"}}},
         "MCP server 'files': field 'env.KEY': refers to ${MCP_TEST_UNSET_VARIABLE}, which is not set"),
    ],
)
def test_a_malformed_server_entry_names_the_server_and_the_field(entries: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse_servers(servers(**entries))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_file_that_is_not_json_says_where_it_breaks(tmp_path: Path, settings: Any) -> None:
    settings.MCP_SERVERS_FILE = str(write(tmp_path, '{"mcpServers": {"files": {"command": "x",}}}'))
    with pytest.raises(ImproperlyConfigured, match=r"is not valid JSON: .* at line 1, column \d+"):
        check_configuration()


def test_a_file_without_mcp_servers_says_what_is_expected(tmp_path: Path, settings: Any) -> None:
    settings.MCP_SERVERS_FILE = str(write(tmp_path, {"servers": {}}))
    with pytest.raises(ImproperlyConfigured, match='must be a JSON object with an "mcpServers" object'):
        check_configuration()


def test_a_missing_file_is_named(tmp_path: Path, settings: Any) -> None:
    settings.MCP_SERVERS_FILE = str(tmp_path / "absent.json")
    with pytest.raises(ImproperlyConfigured, match=r"absent\.json' cannot be read"):
        check_configuration()


@pytest.mark.parametrize("name", ["builtin", "documents"])
def test_a_configured_server_cannot_take_the_name_of_one_of_the_sites_own(tmp_path: Path, settings: Any, name: str) -> None:
    settings.MCP_SERVERS_FILE = str(write(tmp_path, servers(**{name: {"command": "x"}})))
    with pytest.raises(ImproperlyConfigured, match=f"MCP server '{name}': the name is taken"):
        check_configuration()
    with pytest.raises(ImproperlyConfigured, match=f"MCP server '{name}': the name is taken"):
        build_hub()


def test_checking_the_configuration_starts_nothing_and_reaches_nothing(tmp_path: Path, settings: Any) -> None:
    """The stdio server's command would leave a marker file and the HTTP server's address records connections."""
    marker = tmp_path / "started"
    command = tmp_path / "server.sh"
    command.write_text(f"#!/bin/sh\ntouch {marker}\n")
    command.chmod(0o755)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        settings.MCP_SERVERS_FILE = str(write(tmp_path, servers(
            local={"command": str(command)}, remote={"url": f"http://127.0.0.1:{port}/mcp"},
        )))

        check_configuration()

        # A negative: a started process or a connection would show within the bound.
        connected, _, _ = select.select([listener], [], [], 0.5)
    assert not connected, "checking the configuration connected to the HTTP server"
    assert not marker.exists(), "checking the configuration started the stdio server"


async def test_the_built_in_server_can_be_switched_off(tmp_path: Path, settings: Any) -> None:
    settings.MCP_BUILTIN_ENABLED = False
    settings.MCP_SERVERS_FILE = ""
    hub = build_hub()
    try:
        assert [tool.spec.name for tool in await hub.list_tools()] == ["documents__search"]  # the site's other own server
        assert (await hub.call("builtin__calculator", {"expression": "1+1"})).kind == "unknown"
    finally:
        await hub.aclose()


async def test_the_documents_server_can_be_switched_off(settings: Any) -> None:
    settings.DOCUMENTS_ENABLED = False
    settings.MCP_SERVERS_FILE = ""
    hub = build_hub()
    try:
        names = [tool.spec.name for tool in await hub.list_tools()]
        assert "builtin__calculator" in names and not [n for n in names if n.startswith("documents__")]
        assert (await hub.call("documents__search", {"query": "x"})).kind == "unknown"
    finally:
        await hub.aclose()


async def test_tools_marked_in_config_are_offered_as_needing_confirmation() -> None:
    server, _ = probe_server()
    hub = Hub({"probe": memory_server("probe", server, confirm=["delete_file"])})
    try:
        confirm = {tool.spec.name: tool.confirm for tool in await hub.list_tools()}
    finally:
        await hub.aclose()
    assert confirm["probe__delete_file"] is True
    assert confirm["probe__echo"] is False


def test_tool_names_providers_refuse_are_made_safe_and_short() -> None:
    assert model_facing_name("files", "read.file/v2") == "files__read_file_v2"
    assert len(model_facing_name("files", "x" * 100)) == 64


def test_long_results_are_truncated_with_a_visible_marker() -> None:
    text = truncate("a" * 150, 100)
    assert text.startswith("a" * 100)
    assert text.endswith("[… truncated: 50 of 150 characters not shown]")
    assert truncate("short", 100) == "short"



# --- the hub's sessions (in memory, no socket) -------------------------------------------------------


def test_one_hub_serves_each_event_loop_with_sessions_of_its_own() -> None:
    """A process may run several loops one after another (`asyncio.run` in a script): a session must never outlive its loop."""
    server, probe = probe_server()
    hub = Hub({"probe": memory_server("probe", server)})

    async def one_call(text: str) -> str:
        try:
            return (await hub.call("probe__echo", {"text": text})).text
        finally:
            await hub.aclose()

    assert [asyncio.run(one_call("first")), asyncio.run(one_call("second"))] == ["first", "second"]
    assert probe.calls_to("echo") == [{"text": "first", "times": 1}, {"text": "second", "times": 1}]


async def test_a_hanging_call_does_not_hold_up_other_calls_to_the_same_server() -> None:
    server, probe = probe_server()
    hub = Hub({"probe": memory_server("probe", server, timeout=5)})
    try:
        hanging = asyncio.create_task(hub.call("probe__hang", {}))
        await probe.wait(probe.hang_started, "that the hanging call started")
        quick = await hub.call("probe__echo", {"text": "meanwhile"})
        hanging.cancel()
        await asyncio.gather(hanging, return_exceptions=True)
        await probe.wait(probe.hang_cancelled, "that cancelling the caller cancelled the call on the server")
    finally:
        await hub.aclose()
    assert quick.text == "meanwhile"


async def test_the_tool_list_is_cached_until_the_server_announces_a_change() -> None:
    server, _ = probe_server()
    hub = Hub({"probe": memory_server("probe", server)})
    try:
        before = {tool.spec.name for tool in await hub.list_tools()}
        server.add_tool(lambda: "quiet", name="quiet", description="added without an announcement")
        cached = {tool.spec.name for tool in await hub.list_tools()}
        await hub.call("probe__add_tool", {"tool_name": "loud"})
        await hub.wait_for_tool_change("probe", within=5)
        after = {tool.spec.name for tool in await hub.list_tools()}
    finally:
        await hub.aclose()
    assert cached == before
    assert {"probe__quiet", "probe__loud"} <= after


async def test_configured_headers_reach_an_http_server_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROBE_TOKEN", "t0ken")
    server, _ = probe_server()
    with serve_http(server) as url:
        hub = Hub(parse_servers(servers(web={"url": url, "headers": {"Authorization": "Bearer ${PROBE_TOKEN}"}})))
        try:
            result = await hub.call("web__header", {"name": "Authorization"})
        finally:
            await hub.aclose()
    assert (result.text, result.is_error) == ("Bearer t0ken", False)


async def test_a_tool_whose_name_providers_refuse_is_offered_under_a_safe_name_and_still_called() -> None:
    server, _ = probe_server()
    server.add_tool(lambda path: f"read {path}", name="read.file", description="A dotted tool name")
    hub = Hub({"probe": memory_server("probe", server)})
    try:
        offered = {tool.spec.name: tool.tool for tool in await hub.list_tools()}
        result = await hub.call("probe__read_file", {"path": "notes.txt"})
    finally:
        await hub.aclose()
    assert offered["probe__read_file"] == "read.file"
    assert (result.text, result.is_error) == ("read notes.txt", False)


# --- the promises of docs/tools.md at their bounds ----------------------------------------------------------


def test_a_result_of_exactly_the_limit_is_whole_and_one_character_more_is_cut() -> None:
    assert truncate("a" * 100, 100) == "a" * 100
    assert truncate("a" * 101, 100) == "a" * 100 + "\n[… truncated: 1 of 101 characters not shown]"


def test_a_timeout_of_3600_seconds_is_accepted_for_a_server_and_a_tool() -> None:
    loaded = parse_servers(servers(files={"command": "x", "timeout": 3600, "tools": {"scan": {"timeout": 3600}}}))
    assert (loaded["files"].timeout_for("read"), loaded["files"].timeout_for("scan")) == (3600.0, 3600.0)
    with pytest.raises(ImproperlyConfigured, match=r"field 'tools.scan.timeout': Input should be less than or equal to 3600"):
        parse_servers(servers(files={"command": "x", "tools": {"scan": {"timeout": 3601}}}))
    with pytest.raises(ImproperlyConfigured, match=r"field 'tools.scan.timeout': Input should be greater than 0"):
        parse_servers(servers(files={"command": "x", "tools": {"scan": {"timeout": 0}}}))


def test_a_server_name_of_40_characters_is_accepted_and_41_is_refused() -> None:
    assert parse_servers(servers(**{"a" * 40: {"command": "x"}})).keys() == {"a" * 40}
    with pytest.raises(ImproperlyConfigured, match=r"the name must be 1-40 letters"):
        parse_servers(servers(**{"a" * 41: {"command": "x"}}))


@pytest.mark.parametrize(
    ("default", "server_timeout", "tool_timeout", "deadline"),
    [
        (0.3, None, None, 0.3),  # nothing configured: MCP_CALL_TIMEOUT_SECONDS
        (30, 0.3, None, 0.3),  # the server's timeout overrides the default
        (30, 30, 0.3, 0.3),  # the tool's overrides the server's
    ],
)
async def test_a_call_is_cut_off_at_the_tools_timeout_else_the_servers_else_the_default(
    settings: Any, default: float, server_timeout: float | None, tool_timeout: float | None, deadline: float
) -> None:
    settings.MCP_CALL_TIMEOUT_SECONDS = default
    server, probe = probe_server()
    config = memory_server("probe", server, timeout=server_timeout)
    if tool_timeout is not None:
        config = dataclasses.replace(config, tool_timeouts={"hang": tool_timeout})
    hub = Hub({"probe": config})
    try:
        async with asyncio.timeout(10):  # a deadline of 30 s would fail here, not hang the run
            result = await hub.call("probe__hang", {})
        await probe.wait(probe.hang_cancelled, "that the call was cancelled at its deadline")
    finally:
        await hub.aclose()
    assert (result.kind, result.text) == ("timeout", f"Tool probe__hang timed out after {deadline:g} s; the call was cancelled.")


@pytest.mark.parametrize(("server_timeout", "list_timeout"), [(0.5, 30), (30, 0.5)])
async def test_listing_a_server_is_cut_off_at_the_shorter_of_its_timeout_and_the_list_bound(
    settings: Any, caplog: pytest.LogCaptureFixture, server_timeout: float, list_timeout: float
) -> None:
    settings.MCP_LIST_TIMEOUT_SECONDS = list_timeout
    hub = Hub({"quick": memory_server("quick", probe_server()[0]), **parse_servers(servers(silent=silent_stdio_config(timeout=server_timeout)))})
    try:
        with caplog.at_level(logging.WARNING, logger="chat.tools.hub"):
            async with asyncio.timeout(10):
                offered = {tool.server for tool in await hub.list_tools()}
    finally:
        await hub.aclose()
    assert offered == {"quick"}
    assert "MCP server silent is unavailable: it did not list its tools within 0.5 s" in caplog.text


async def test_a_server_that_failed_is_not_listed_again_for_mcp_retry_after_seconds(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start of the failing server is counted; the hub's clock is a fake one, so no time passes."""
    starts = tmp_path / "starts"
    script = tmp_path / "down.sh"
    script.write_text(f"#!/bin/sh\necho started >> {starts}\nexit 1\n")
    script.chmod(0o755)
    now = [1000.0]
    monkeypatch.setattr(hub_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    settings.MCP_RETRY_AFTER_SECONDS = 30
    hub = Hub(parse_servers(servers(down={"command": str(script), "timeout": 5})))

    def started() -> int:
        return len(starts.read_text().splitlines()) if starts.exists() else 0

    try:
        async with asyncio.timeout(20):
            assert await hub.list_tools() == [] and started() == 1
            now[0] += 29.9
            assert await hub.list_tools() == [] and started() == 1, "listed again before MCP_RETRY_AFTER_SECONDS"
            now[0] += 0.1
            assert await hub.list_tools() == [] and started() == 2, "not listed again after MCP_RETRY_AFTER_SECONDS"
    finally:
        await hub.aclose()


async def test_two_tools_whose_names_are_the_same_once_cut_offer_only_the_first(caplog: pytest.LogCaptureFixture) -> None:
    server, _ = probe_server()
    long_name = "t" * 70
    server.add_tool(lambda: "first", name=long_name + "_one", description="first")
    server.add_tool(lambda: "second", name=long_name + "_two", description="second")
    hub = Hub({"probe": memory_server("probe", server)})
    try:
        with caplog.at_level(logging.WARNING, logger="chat.tools.hub"):
            offered = [tool for tool in await hub.list_tools() if tool.tool.startswith(long_name)]
    finally:
        await hub.aclose()
    assert [(tool.spec.name, tool.tool) for tool in offered] == [(("probe__" + long_name)[:64], long_name + "_one")]
    assert "is ambiguous after shortening; only the first is offered" in caplog.text


async def test_a_stdio_server_gets_its_configured_env_and_none_of_the_sites_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tools.md: `env` is added to the SDK's minimal environment, not to the site's whole environment."""
    monkeypatch.setenv("CHAT_TEST_SITE_SECRET", "do-not-pass-on")
    seen = tmp_path / "environment"
    entry = stdio_config("probe", env={"LOG_LEVEL": "warn"})
    entry = {**entry, "command": "/bin/sh", "args": ["-c", f'env > "{seen}"; exec "{sys.executable}" "$@"', "sh", *entry["args"]]}
    hub = Hub(parse_servers(servers(probe=entry)))
    try:
        async with asyncio.timeout(20):
            result = await hub.call("probe__echo", {"text": "up"})
    finally:
        await hub.aclose()
    assert (result.text, result.is_error) == ("up", False)
    environment = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert environment["LOG_LEVEL"] == "warn"
    assert "CHAT_TEST_SITE_SECRET" not in environment


def test_a_tool_with_an_empty_schema_is_offered_with_an_object_schema() -> None:
    assert input_schema(mcp_types.Tool(name="now", input_schema={})) == {"type": "object", "properties": {}}
    given = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
    assert input_schema(mcp_types.Tool(name="time", input_schema=given)) == given


def test_several_mistakes_in_one_entry_are_named_together() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse_servers(servers(files={"command": "x", "args": "--root /", "confim": True}))
    assert str(caught.value) == (
        "MCP server 'files': field 'args': Input should be a valid list; field 'confim': Extra inputs are not permitted"
    )


async def test_a_protocol_error_from_the_server_is_an_error_result_with_its_message() -> None:
    """tools.md "What each outcome looks like": `Tool x__y failed: <the JSON-RPC error message>`."""
    server, _ = probe_server()

    def locked() -> str:
        raise MCPError(-32603, "the index is locked")

    server.add_tool(locked, name="locked", description="answers with a JSON-RPC error")
    hub = Hub({"probe": memory_server("probe", server)})
    try:
        result = await hub.call("probe__locked", {})
    finally:
        await hub.aclose()
    assert (result.text, result.is_error, result.kind) == ("Tool probe__locked failed: the index is locked", True, "error")
