"""Two configured providers (OpenAI-compatible and Anthropic) at real URLs, mocked with `responses`.

Tests register bodies in the providers' true wire formats (tests/support/wire.py) on these URLs, and
read back what the site sent. The `use_providers` and `mocked` fixtures (tests/integration/conftest.py)
configure the site and hold the mock; the `model` fixture serves a ScriptedModel (tests/support/scripted_model.py)
on them.
"""

from __future__ import annotations

import json
from typing import Any

import responses

from tests.support import wire

OPENAI_URL = "https://llm.test/v1/chat/completions"
ANTHROPIC_URL = "https://anthropic.test/v1/messages"
PRIMARY = {"name": "primary", "family": "openai", "base_url": "https://llm.test/v1", "model": "gpt-4o-mini",
           "api_key_env": "LLM_TEST_KEY", "max_retries": 0}
SCRIPTED = {"name": "fake", "family": "openai", "base_url": "https://llm.test/v1", "model": "m",
            "api_key_env": "LLM_TEST_KEY"}  # the `model` fixture's one provider, answered by a ScriptedModel
BACKUP = {"name": "backup", "family": "anthropic", "base_url": "https://anthropic.test/v1",
          "model": "claude-3-5-haiku-latest", "api_key_env": "LLM_TEST_KEY", "max_retries": 0, "read_timeout": 30}


def bodies(mock: responses.RequestsMock, url: str) -> list[dict[str, Any]]:
    """The JSON bodies the site posted to url, in order."""
    return [json.loads(call.request.body) for call in mock.calls if call.request.url == url]


def openai_text(*parts: str) -> str:
    return wire.openai_sse(wire.openai_text_chunks(parts) + [wire.openai_usage_chunk(30, len(parts))])


def anthropic_text(*parts: str) -> str:
    return wire.anthropic_sse(wire.anthropic_text_events(parts))
