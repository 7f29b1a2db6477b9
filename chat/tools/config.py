"""MCP server configuration: the standard `mcpServers` JSON, plus our `timeout` and `confirm` keys.

Only the operator's file adds servers; nothing a user sends reaches this module. Each entry is validated
with pydantic (StdioEntry or HttpEntry), and a mistake raises ImproperlyConfigured naming the server and
the field, in the same shape as the LLM providers' (chat/config_errors.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chat.config_errors import describe
from chat.tools.base import NAME_SEPARATOR

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_ENV_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
# Keys other MCP hosts write into the same file; accepted and ignored so a copied config loads.
_FOREIGN_KEYS = frozenset({"autoApprove", "alwaysAllow", "description", "transportType", "envFile"})
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
    return ServerConfig(
        name=name, transport="memory", server=server, timeout=timeout,
        confirm_all=confirm is True, confirm_tools=frozenset(confirm) if isinstance(confirm, list) else frozenset(), required=required, receives_context=receives_context,
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


def check_not_taken(configured: Iterable[str]) -> None:
    """Refuse a configured server named like one of the site's own servers that is switched on."""
    own = {"builtin": settings.MCP_BUILTIN_ENABLED, "documents": settings.DOCUMENTS_ENABLED}
    for name in configured:
        if own.get(name):
            raise ImproperlyConfigured(f"MCP server {name!r}: the name is taken by the site's own server; choose another.")


# --- the entries' shape --------------------------------------------------------------------------------------


def _expand(value: str) -> str:
    """Replace ${VAR} / ${env:VAR} with the environment's value, so secrets stay out of the file.

    Runs after the value is known to be a string; an unset variable is an error on that field.
    """

    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in os.environ:
            raise PydanticCustomError("env_not_set", f"refers to ${{{variable}}}, which is not set in the environment")
        return os.environ[variable]

    return _ENV_REFERENCE.sub(substitute, value)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_string", "String should not be empty or blank")
    return value


def _http_url(value: str) -> str:
    """Checked after expansion (the whole URL may come from a variable); the message shows the file's text."""
    expanded = _expand(value)
    if not re.match(r"^https?://[^/\s]+", expanded):
        raise PydanticCustomError("http_url", f"must be an http:// or https:// URL, got {value!r}")
    return expanded


Text = Annotated[str, AfterValidator(_expand)]
NonBlank = Annotated[str, AfterValidator(_not_blank), AfterValidator(_expand)]
HttpUrlText = Annotated[str, AfterValidator(_not_blank), AfterValidator(_http_url)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class _Strict(BaseModel):
    """Strict types ("30" is not a number, 1 is not a string) and no unknown keys (a typo cannot pass)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ToolOptions(_Strict):
    """One entry of `tools`: {"delete_file": {"confirm": true, "timeout": 120}}."""

    confirm: bool = False
    timeout: Seconds | None = None


class _Entry(_Strict):
    """What stdio and HTTP entries share: our keys."""

    type: Literal["stdio", "http", "streamable-http", "streamableHttp"] | None = None
    timeout: Seconds | None = None  # None: settings.MCP_CALL_TIMEOUT_SECONDS
    confirm: bool | list[str] = False  # true: every tool of the server; or the names of the tools
    tools: dict[str, ToolOptions] = Field(default_factory=dict)
    disabled: bool = False
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _ignore_foreign_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in _FOREIGN_KEYS}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _refuse_sse(cls, value: Any) -> Any:
        if value == "sse":
            raise PydanticCustomError("sse", '"sse" (the legacy SSE transport) is not supported: use a streamable HTTP endpoint ("http")')
        return value

    @field_validator("confirm", mode="before")
    @classmethod
    def _confirm_shape(cls, value: Any) -> Any:
        # Checked here so a mistake gets one message, not one per member of the union.
        if isinstance(value, bool) or (isinstance(value, list) and all(isinstance(item, str) and item for item in value)):
            return value
        raise PydanticCustomError("confirm", f"must be true, false or a list of tool names, got {value!r}")

    def options(self) -> dict[str, Any]:
        confirm_tools = frozenset(self.confirm) if isinstance(self.confirm, list) else frozenset()
        return {
            "timeout": self.timeout,
            "confirm_all": self.confirm is True,
            "confirm_tools": confirm_tools | {tool for tool, options in self.tools.items() if options.confirm},
            "tool_timeouts": {tool: options.timeout for tool, options in self.tools.items() if options.timeout is not None},
            "required": self.required,
        }


class StdioEntry(_Entry):
    """A server the site starts as a child process and talks to over stdin/stdout."""

    command: NonBlank
    args: list[Text] = Field(default_factory=list)
    env: dict[str, Text] = Field(default_factory=dict)
    cwd: NonBlank | None = None

    def config(self, name: str) -> ServerConfig:
        return ServerConfig(
            name=name, transport="stdio", command=self.command, args=tuple(self.args), env=dict(self.env),
            cwd=self.cwd, **self.options(),
        )


class HttpEntry(_Entry):
    """A server at a streamable HTTP endpoint."""

    url: HttpUrlText
    headers: dict[str, Text] = Field(default_factory=dict)

    def config(self, name: str) -> ServerConfig:
        return ServerConfig(name=name, transport="http", url=self.url, headers=dict(self.headers), **self.options())


class _Switch(BaseModel):
    """Only `disabled`, read first: a disabled entry is kept in the file unused, whatever else it holds."""

    model_config = ConfigDict(extra="ignore", strict=True)

    disabled: bool = False


def _check_name(name: str) -> None:
    if not SERVER_NAME.match(name) or NAME_SEPARATOR in name:
        raise ImproperlyConfigured(
            f"MCP server {name!r}: the name must be 1-40 letters, digits, '-' or '_', start with a letter "
            f"or digit, and not contain {NAME_SEPARATOR!r} (it separates server and tool in tool names)."
        )


_Model = TypeVar("_Model", bound=BaseModel)


def _validated(name: str, model: type[_Model], entry: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(entry)
    except ValidationError as exc:
        raise ImproperlyConfigured(f"MCP server {name!r}: {describe(exc)}") from None


def _parse_server(name: str, entry: Any) -> ServerConfig | None:
    _check_name(name)
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"MCP server {name!r}: the entry must be a JSON object.")
    if _validated(name, _Switch, entry).disabled:
        return None
    return _validated(name, _entry_model(name, entry), entry).config(name)


def _entry_model(name: str, entry: dict[str, Any]) -> type[StdioEntry] | type[HttpEntry]:
    """Which transport the entry means: its `type`, else `command` (stdio) or `url` (HTTP)."""
    declared = entry.get("type")
    if isinstance(declared, str) and declared in _TYPES:
        return StdioEntry if _TYPES[declared] == "stdio" else HttpEntry
    if "command" in entry and "url" in entry:
        raise ImproperlyConfigured(f"MCP server {name!r}: give either 'command' (stdio) or 'url' (HTTP), not both.")
    if "url" in entry:
        return HttpEntry
    if "command" in entry or declared is not None:
        return StdioEntry  # with an unknown `type`, the model refuses it and lists the choices
    raise ImproperlyConfigured(f"MCP server {name!r}: needs a 'command' (stdio) or a 'url' (HTTP).")
