"""MCP server configuration: the standard `mcpServers` JSON, plus our `timeout` and `confirm` keys.

Only the operator's file adds servers; nothing a user sends reaches this module.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.tools.base import NAME_SEPARATOR

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_ENV_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
_STDIO_KEYS = {"command", "args", "env", "cwd"}
_HTTP_KEYS = {"url", "headers"}
_OUR_KEYS = {"type", "timeout", "confirm", "tools", "disabled", "required"}
# Keys other MCP hosts write into the same file; accepted and ignored so a copied config loads.
_FOREIGN_KEYS = {"autoApprove", "alwaysAllow", "description", "transportType", "envFile"}
_TYPES = {"stdio": "stdio", "http": "http", "streamable-http": "http", "streamableHttp": "http"}


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server: how to reach it, its deadline, and which of its tools need the person's consent.

    transport is "stdio", "http" or "memory" (an in-process MCPServer, for tests and the built-in one).
    """

    name: str
    transport: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    server: Any = None  # the MCPServer instance when transport == "memory"
    timeout: float | None = None  # None: settings.MCP_CALL_TIMEOUT_SECONDS
    confirm_all: bool = False
    confirm_tools: frozenset[str] = frozenset()
    tool_timeouts: dict[str, float] = field(default_factory=dict)
    required: bool = False  # /readyz reports the site not ready while this server does not answer
    # The site's own servers get the calling conversation in each call's _meta (chat/documents/tool_server.py);
    # no operator-configured server ever does.
    receives_context: bool = False

    def needs_confirmation(self, tool: str) -> bool:
        return self.confirm_all or tool in self.confirm_tools

    def timeout_for(self, tool: str) -> float:
        """The deadline of one call: the tool's own, else the server's, else the site default."""
        if tool in self.tool_timeouts:
            return self.tool_timeouts[tool]
        return self.timeout if self.timeout is not None else float(settings.MCP_CALL_TIMEOUT_SECONDS)


def memory_server(
    name: str, server: Any, *, confirm: bool | list[str] = False, timeout: float | None = None, required: bool = False,
    receives_context: bool = False,
) -> ServerConfig:
    """A config for an in-process MCPServer instance (tests, the built-in servers)."""
    _check_name(name)
    confirm_all, confirm_tools = _confirm(name, confirm)
    return ServerConfig(
        name=name, transport="memory", server=server, timeout=timeout,
        confirm_all=confirm_all, confirm_tools=confirm_tools, required=required, receives_context=receives_context,
    )


def load_servers(path: str | os.PathLike[str] | None = None) -> dict[str, ServerConfig]:
    """Read and validate the servers file (settings.MCP_SERVERS_FILE); no file means no servers."""
    path = path if path is not None else settings.MCP_SERVERS_FILE
    if not path:
        return {}
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"MCP_SERVERS_FILE {str(source)!r} cannot be read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(
            f"MCP_SERVERS_FILE {str(source)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    return parse_servers(data)


def parse_servers(data: Any) -> dict[str, ServerConfig]:
    """Validate a parsed `{"mcpServers": {...}}` document; raise ImproperlyConfigured naming server and field."""
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers"), dict):
        raise ImproperlyConfigured('MCP servers file must be a JSON object with an "mcpServers" object.')
    servers: dict[str, ServerConfig] = {}
    for name, entry in data["mcpServers"].items():
        config = _parse_server(name, entry)
        if config is not None:
            servers[name] = config
    return servers


def _check_name(name: str) -> None:
    if not SERVER_NAME.match(name) or NAME_SEPARATOR in name:
        raise ImproperlyConfigured(
            f"MCP server {name!r}: the name must be 1-40 letters, digits, '-' or '_', start with a letter "
            f"or digit, and not contain {NAME_SEPARATOR!r} (it separates server and tool in tool names)."
        )


def _fail(name: str, field_name: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"MCP server {name!r}: field {field_name!r} {problem}")


def _parse_server(name: str, entry: Any) -> ServerConfig | None:
    _check_name(name)
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"MCP server {name!r}: the entry must be a JSON object.")
    if _bool(name, entry, "disabled"):
        return None
    transport = _transport(name, entry)
    allowed = _OUR_KEYS | _FOREIGN_KEYS | (_STDIO_KEYS if transport == "stdio" else _HTTP_KEYS)
    for key in entry:
        if key not in allowed:
            raise _fail(name, key, f"is not allowed for a {transport} server (allowed: {', '.join(sorted(allowed - _FOREIGN_KEYS))}).")
    confirm_all, confirm_tools = _confirm(name, entry.get("confirm", False))
    tool_confirms, tool_timeouts = _per_tool(name, entry.get("tools", {}))
    common = {
        "name": name,
        "timeout": _timeout(name, entry.get("timeout"), "timeout"),
        "confirm_all": confirm_all,
        "confirm_tools": confirm_tools | tool_confirms,
        "tool_timeouts": tool_timeouts,
        "required": _bool(name, entry, "required"),
    }
    if transport == "stdio":
        return ServerConfig(
            transport="stdio",
            command=_string(name, entry, "command"),
            args=tuple(_string_list(name, entry, "args")),
            env=_string_map(name, entry, "env"),
            cwd=_string(name, entry, "cwd") if "cwd" in entry else None,
            **common,
        )
    url = _string(name, entry, "url")
    if not re.match(r"^https?://[^/\s]+", url):
        raise _fail(name, "url", f"must be an http:// or https:// URL, got {url!r}.")
    return ServerConfig(transport="http", url=url, headers=_string_map(name, entry, "headers"), **common)


def _transport(name: str, entry: dict[str, Any]) -> str:
    declared = entry.get("type")
    if declared is not None:
        if declared == "sse":
            raise _fail(name, "type", 'is "sse", which is not supported; use a streamable HTTP endpoint ("http").')
        if declared not in _TYPES:
            raise _fail(name, "type", f"must be one of {', '.join(sorted(_TYPES))}, got {declared!r}.")
        transport = _TYPES[declared]
    elif "command" in entry and "url" in entry:
        raise ImproperlyConfigured(f"MCP server {name!r}: give either 'command' (stdio) or 'url' (HTTP), not both.")
    elif "command" in entry:
        transport = "stdio"
    elif "url" in entry:
        transport = "http"
    else:
        raise ImproperlyConfigured(f"MCP server {name!r}: needs a 'command' (stdio) or a 'url' (HTTP).")
    required = "command" if transport == "stdio" else "url"
    if required not in entry:
        raise _fail(name, required, f"is required for a {transport} server.")
    return transport


def _string(name: str, entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, key, "must be a non-empty string.")
    return _expand(name, key, value)


def _string_list(name: str, entry: dict[str, Any], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(name, key, "must be a list of strings.")
    return [_expand(name, key, item) for item in value]


def _string_map(name: str, entry: dict[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(name, key, "must be an object of string values.")
    return {k: _expand(name, f"{key}.{k}", v) for k, v in value.items()}


def _expand(name: str, key: str, value: str) -> str:
    """Replace ${VAR} / ${env:VAR} with the environment's value, so secrets stay out of the file."""

    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in os.environ:
            raise _fail(name, key, f"refers to ${{{variable}}}, which is not set in the environment.")
        return os.environ[variable]

    return _ENV_REFERENCE.sub(substitute, value)


def _bool(name: str, entry: dict[str, Any], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise _fail(name, key, "must be true or false.")
    return value


def _timeout(name: str, value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise _fail(name, key, f"must be a number of seconds between 0 and 3600, got {value!r}.")
    return float(value)


def _confirm(name: str, value: Any) -> tuple[bool, frozenset[str]]:
    """The `confirm` key: true (every tool of the server) or a list of tool names."""
    if isinstance(value, bool):
        return value, frozenset()
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return False, frozenset(value)
    raise _fail(name, "confirm", f"must be true, false or a list of tool names, got {value!r}.")


def _per_tool(name: str, value: Any) -> tuple[frozenset[str], dict[str, float]]:
    """The `tools` key: {"delete_file": {"confirm": true, "timeout": 120}}."""
    if not isinstance(value, dict):
        raise _fail(name, "tools", 'must be an object like {"tool_name": {"confirm": true, "timeout": 60}}.')
    confirms: set[str] = set()
    timeouts: dict[str, float] = {}
    for tool, options in value.items():
        where = f"tools.{tool}"
        if not isinstance(options, dict) or set(options) - {"confirm", "timeout"}:
            raise _fail(name, where, 'must be an object with only "confirm" (true/false) and "timeout" (seconds).')
        if not isinstance(options.get("confirm", False), bool):
            raise _fail(name, f"{where}.confirm", "must be true or false.")
        if options.get("confirm"):
            confirms.add(tool)
        if (seconds := _timeout(name, options.get("timeout"), f"{where}.timeout")) is not None:
            timeouts[tool] = seconds
    return frozenset(confirms), timeouts
