"""One readable line from a pydantic ValidationError, so every configuration file reports mistakes alike.

Used by the LLM providers (chat/llm/config.py) and the MCP servers file (chat/tools/config.py); each puts
its own prefix in front ("LLM provider 'x': ", "MCP server 'y': ").
"""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError) -> str:
    """`field 'a.b': msg; field 'c': msg` (an error about the whole entry, with no field, is its message alone)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"field '{where}': {error['msg']}" if where else error["msg"])
    return "; ".join(problems)
