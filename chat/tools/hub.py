"""The MCP hub: one place that knows the configured servers, lists their tools and calls them.

Sessions belong to an event loop. Daphne runs one, and so do the test suites (one loop for the
whole session), but a process may run others one after another (`asyncio.run` in the cassette
recorder, or a test), so the hub keeps one set of connections per running loop, opened lazily and
reused across turns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from django.conf import settings
from mcp import Client
from mcp.shared.exceptions import MCPError

from chat.llm.base import ToolSpec
from chat.tools import titles
from chat.tools.base import NAME_SEPARATOR, HubTool, ToolResult
from chat.tools.config import ServerConfig, check_not_taken, load_servers, memory_server
from chat.tools.connection import Connection, ServerUnavailable
from chat.tools.results import argument_problem, from_call_result, input_schema, model_facing_name, truncate

log = logging.getLogger(__name__)

MAX_TOOL_PAGES = 20  # a paginating server that never ends cannot hang a listing


@dataclass
class _Server:
    """A server's connection and its cached tool list in one event loop."""

    config: ServerConfig
    connection: Connection
    tools: list[HubTool] | None = None
    stale: bool = True
    failed_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def tools_changed(self) -> None:
        """Called when the server announces a new tool list: list again on next use."""
        self.stale = True
        self.changed.set()


class Hub:
    """Tools of every configured server, under `server__tool` names; calls that always come back."""

    def __init__(self, configs: dict[str, ServerConfig], extra: dict[str, Any] | None = None) -> None:
        self._configs = dict(configs)
        for name, server in (extra or {}).items():
            self._configs[name] = server if isinstance(server, ServerConfig) else memory_server(name, server)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Server]] = (
            weakref.WeakKeyDictionary()
        )

    async def list_tools(self) -> list[HubTool]:
        """Every tool of every reachable server; a broken or slow server hides only its own tools."""
        servers = list(self._servers().values())
        listings = await asyncio.gather(*(self._tools_of(server) for server in servers))
        tools: list[HubTool] = []
        seen: set[str] = set()
        for listing in listings:
            for tool in listing:
                if tool.spec.name in seen:
                    log.warning("MCP tool name %s is ambiguous after shortening; only the first is offered", tool.spec.name)
                    continue
                seen.add(tool.spec.name)
                tools.append(tool)
        return tools

    async def call(self, name: str, arguments: dict[str, Any], context: dict[str, Any] | None = None) -> ToolResult:
        """Call a tool by qualified name under its deadline. Never raises (but for cancellation).

        `context` (the calling conversation) reaches only the site's own servers, in the call's _meta.
        """
        server_name, _, _ = name.partition(NAME_SEPARATOR)
        server = self._servers().get(server_name)
        if server is None:
            return _unknown(name)
        tools = await self._tools_of(server, for_call=True)
        tool = next((t for t in tools if t.spec.name == name), None)
        if tool is None:
            if server.tools is None:
                return ToolResult(_unavailable_text(server), is_error=True, kind="unavailable")
            return _unknown(name)
        if not isinstance(arguments, dict):
            return ToolResult(f"Invalid arguments for {name}: expected a JSON object.", is_error=True, kind="invalid")
        if problem := argument_problem(tool.spec.input_schema, arguments):
            return ToolResult(f"Invalid arguments for {name}: {problem}", is_error=True, kind="invalid")
        meta = context if context and server.config.receives_context else None
        return await self._call(server, tool, arguments, meta)

    def server_configs(self) -> list[ServerConfig]:
        """Every server the hub offers, in order (the readiness check reports each)."""
        return list(self._configs.values())

    async def check(self, name: str, deadline: float) -> None:
        """Return when server `name` lists (a first page of) its tools within deadline seconds, starting its
        session if needed. (MCP's ping is gone as of 2026-07-28; a listing is what a turn needs anyway.)

        Raises TimeoutError, ServerUnavailable (cannot start or reach it) or MCPError. For health checks:
        the deadline never stops a session that is still starting, which a turn may be waiting for, and
        the cached tool list is left alone.
        """
        server = self._servers()[name]
        await server.connection.request(_list_first_page, deadline, stop_slow_start=False)

    async def wait_for_tool_change(self, server_name: str, within: float) -> None:
        """Wait until server_name announces a changed tool list (tests, observers); TimeoutError after `within` s."""
        server = self._servers()[server_name]
        async with asyncio.timeout(within):
            await server.changed.wait()
        server.changed.clear()

    async def aclose(self) -> None:
        """Close this loop's sessions and stop their subprocesses (tests: in fixture teardown)."""
        servers = self._loops.pop(asyncio.get_running_loop(), {})
        await asyncio.gather(*(server.connection.aclose() for server in servers.values()))

    def _servers(self) -> dict[str, _Server]:
        loop = asyncio.get_running_loop()
        servers = self._loops.get(loop)
        if servers is None:
            # Sessions hold their loop alive, so the weak keys alone would never let a closed loop go.
            for closed in [other for other in self._loops if other.is_closed()]:
                del self._loops[closed]
            servers = self._loops[loop] = {name: self._new_server(config) for name, config in self._configs.items()}
        return servers

    @staticmethod
    def _new_server(config: ServerConfig) -> _Server:
        server = _Server(config, Connection(config))
        server.connection.on_tools_changed = server.tools_changed
        return server

    async def _tools_of(self, server: _Server, *, for_call: bool = False) -> list[HubTool]:
        """The cached tool list, refreshed when stale; empty (and logged) when the server fails."""
        if server.tools is not None and not server.stale and server.connection.alive:
            return server.tools
        backoff = float(settings.MCP_RETRY_AFTER_SECONDS)
        if not for_call and server.failed_at and time.monotonic() - server.failed_at < backoff:
            return server.tools or []  # a server that just failed is not retried on every turn
        server.stale = False
        try:
            listed = await server.connection.request(_list_all_tools, _list_deadline(server.config))
        except TimeoutError:
            return self._listing_failed(server, f"it did not list its tools within {_list_deadline(server.config):g} s")
        except Exception as exc:  # ServerUnavailable, MCPError, a malformed listing: all hide only this server
            return self._listing_failed(server, str(exc) or type(exc).__name__)
        server.failed_at = 0.0
        server.tools = [self._hub_tool(server.config, tool) for tool in listed]
        return server.tools

    @staticmethod
    def _listing_failed(server: _Server, reason: str) -> list[HubTool]:
        log.warning("MCP server %s is unavailable: %s", server.config.name, reason)
        server.stale = True
        server.failed_at = time.monotonic()
        server.connection.failure = reason
        return server.tools or []  # tools it listed before stay on offer; a call will say if it is still down

    @staticmethod
    def _hub_tool(config: ServerConfig, tool: types.Tool) -> HubTool:
        spec = ToolSpec(model_facing_name(config.name, tool.name), tool.description or "", input_schema(tool))
        title = tool.title or (tool.annotations.title if tool.annotations else None) or ""
        titles.remember(spec.name, title)
        return HubTool(
            spec=spec, server=config.name, tool=tool.name, confirm=config.needs_confirmation(tool.name), title=title
        )

    async def _call(
        self, server: _Server, tool: HubTool, arguments: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> ToolResult:
        deadline = server.config.timeout_for(tool.tool)
        max_chars = int(settings.MCP_MAX_RESULT_CHARS)

        async def operation(client: Client) -> types.CallToolResult:
            return await client.call_tool(tool.tool, arguments, meta=meta)  # type: ignore[arg-type]

        try:
            result = await server.connection.request(operation, deadline)
        except TimeoutError:
            return ToolResult(
                f"Tool {tool.spec.name} timed out after {deadline:g} s; the call was cancelled.",
                is_error=True, kind="timeout",
            )
        except ServerUnavailable as exc:
            server.stale = True
            return ToolResult(f"Tool {tool.spec.name} is unavailable: {exc}", is_error=True, kind="unavailable")
        except MCPError as exc:
            return ToolResult(truncate(f"Tool {tool.spec.name} failed: {exc.error.message}", max_chars), True, "error")
        except Exception as exc:  # a malformed answer must not end the turn
            log.exception("MCP call %s failed", tool.spec.name)
            return ToolResult(f"Tool {tool.spec.name} failed: {type(exc).__name__}: {exc}", True, "error")
        return from_call_result(result, max_chars)


async def _list_all_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


async def _list_first_page(client: Client) -> None:
    await client.list_tools()


def _list_deadline(config: ServerConfig) -> float:
    """Listing shares the turn's start, so it gets the shorter of the server's deadline and the list bound."""
    return min(config.timeout_for(""), float(settings.MCP_LIST_TIMEOUT_SECONDS))


def _unknown(name: str) -> ToolResult:
    return ToolResult(f"Unknown tool: {name}. Use only the tools you were given.", is_error=True, kind="unknown")


def _unavailable_text(server: _Server) -> str:
    reason = server.connection.failure or "it could not be reached"
    return f"MCP server {server.config.name} is unavailable: {reason}"


_hub: Hub | None = None


def build_hub(extra: dict[str, Any] | None = None) -> Hub:
    """A hub for the configured servers plus the site's own: `builtin` (unless MCP_BUILTIN_ENABLED is false)
    and `documents` (unless DOCUMENTS_ENABLED is false)."""
    configs: dict[str, ServerConfig] = {}
    if settings.MCP_BUILTIN_ENABLED:
        from chat.tools.builtin import server as builtin_server

        configs["builtin"] = memory_server("builtin", builtin_server)
    if settings.DOCUMENTS_ENABLED:
        from chat.documents.tool_server import server as documents_server

        configs["documents"] = memory_server("documents", documents_server, receives_context=True)
    configured = load_servers()
    check_not_taken(configured)
    configs.update(configured)
    return Hub(configs, extra)


def get_hub() -> Hub:
    """The process's hub, built once from settings."""
    global _hub
    if _hub is None:
        _hub = build_hub()
    return _hub


def set_hub(hub: Hub | None) -> Hub | None:
    """Install a hub (tests) and return the previous one; None makes the next get_hub() rebuild from settings."""
    global _hub
    previous, _hub = _hub, hub
    return previous


def reset_hub() -> None:
    """Forget the hub so the next turn reads settings again. Await close_hub() first to stop its sessions."""
    set_hub(None)


async def close_hub() -> None:
    """Close the current hub's sessions in the running loop, if a hub was built."""
    if _hub is not None:
        await _hub.aclose()
