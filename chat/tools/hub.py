"""The MCP hub: one place that knows the configured servers and calls their tools.

Foundation version: only the built-in server, reached in memory. The MCP layer (issue 4) grows
this into configured stdio / streamable HTTP servers behind the same ToolHub interface.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from mcp import Client

from chat.llm.base import ToolSpec
from chat.tools.base import NAME_SEPARATOR, HubTool, ToolResult, qualified_name
from chat.tools.builtin import server as builtin_server

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, servers: dict[str, Any], timeout: float) -> None:
        self._servers = servers
        self._timeout = timeout

    async def list_tools(self) -> list[HubTool]:
        tools: list[HubTool] = []
        for name, server in self._servers.items():
            try:
                async with asyncio.timeout(self._timeout), Client(server) as client:
                    listed = await client.list_tools()
            except Exception:
                log.exception("MCP server %s could not list its tools", name)
                continue
            for tool in listed.tools:
                spec = ToolSpec(qualified_name(name, tool.name), tool.description or "", dict(tool.input_schema))
                tools.append(HubTool(spec=spec, server=name, tool=tool.name))
        return tools

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        server_name, _, tool_name = name.partition(NAME_SEPARATOR)
        server = self._servers.get(server_name)
        if server is None or not tool_name:
            return ToolResult(f"Unknown tool: {name}", is_error=True, kind="unknown")
        try:
            async with asyncio.timeout(self._timeout), Client(server) as client:
                result = await client.call_tool(tool_name, arguments)
        except TimeoutError:
            return ToolResult(f"Tool {name} timed out after {self._timeout:g} s", is_error=True, kind="timeout")
        except Exception as exc:
            log.exception("MCP call %s failed", name)
            return ToolResult(f"Tool {name} failed: {exc}", is_error=True, kind="unavailable")
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        return ToolResult(
            text, is_error=bool(result.is_error), kind="error" if result.is_error else "result",
            structured=result.structured_content,
        )


_hub: Hub | None = None


def get_hub() -> Hub:
    global _hub
    if _hub is None:
        servers = {"builtin": builtin_server} if settings.MCP_BUILTIN_ENABLED else {}
        _hub = Hub(servers, settings.MCP_CALL_TIMEOUT_SECONDS)
    return _hub
