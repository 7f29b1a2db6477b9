"""The seam between the turn engine and MCP: tools to offer, and calls that always come back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chat.llm.base import ToolSpec

# Name separator between server and tool in the names the model sees ("builtin__calculator").
# Provider function names allow only [A-Za-z0-9_-], so no dots or slashes.
NAME_SEPARATOR = "__"


@dataclass(frozen=True)
class HubTool:
    spec: ToolSpec  # spec.name is the qualified name the model sees
    server: str
    tool: str
    confirm: bool = False
    title: str = ""  # the MCP tool's human title, when its server gives one


@dataclass(frozen=True)
class ToolResult:
    """What a call came to. kind: result, error, invalid, unknown, timeout, unavailable (from the hub),
    declined, stopped (set by the turn engine). docs/tools.md shows the text of each."""

    text: str
    is_error: bool = False
    kind: str = "result"


class ToolHub(Protocol):
    async def list_tools(self) -> list[HubTool]:
        """Every tool of every reachable server; a broken server hides only its own tools."""
        ...

    async def call(self, name: str, arguments: dict[str, Any], context: dict[str, Any] | None = None) -> ToolResult:
        """Call a tool by qualified name under its deadline. Never raises (but for cancellation)."""
        ...
