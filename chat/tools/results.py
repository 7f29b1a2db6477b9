"""Turning MCP answers into what the model reads: tool specs in, ToolResults out."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import mcp_types as types

from chat.tools.base import ToolResult

_PROVIDER_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME_CHARS = 64  # OpenAI's and Anthropic's limit on function names


def model_facing_name(server: str, tool: str) -> str:
    """`server__tool`, with characters providers refuse replaced and the whole kept within 64 characters."""
    name = f"{server}__{_PROVIDER_NAME.sub('_', tool)}"
    if len(name) > MAX_NAME_CHARS:
        name = name[:MAX_NAME_CHARS]
    return name


def input_schema(tool: types.Tool) -> dict[str, Any]:
    """The tool's JSON schema as providers accept it: always an object schema with properties."""
    schema = dict(tool.input_schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema


def argument_problem(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """Why the arguments do not fit the schema, in one sentence, or None when they do."""
    try:
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = validator_class(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except jsonschema.exceptions.SchemaError:
        return None  # the server's schema is broken: let the server judge the arguments
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def from_call_result(result: types.CallToolResult, max_chars: int) -> ToolResult:
    """A CallToolResult as the model sees it: text (structured content as JSON if no text), truncated."""
    text = "\n".join(part for part in (_block_text(block) for block in result.content) if part)
    structured = result.structured_content
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False)
    if result.is_error:
        return ToolResult(truncate(text or "The tool failed without saying why.", max_chars), True, "error")
    return ToolResult(truncate(text, max_chars), False, "result")


def truncate(text: str, max_chars: int) -> str:
    """Cut text at max_chars with a visible marker saying how much was dropped."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[… truncated: {len(text) - max_chars} of {len(text)} characters not shown]"


def _block_text(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[image: {block.mime_type}]"
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        return getattr(resource, "text", None) or f"[resource: {resource.uri}]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}]"
    return ""
