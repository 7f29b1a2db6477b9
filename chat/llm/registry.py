"""Which class speaks which provider family."""

from __future__ import annotations

from chat.llm.anthropic import AnthropicProvider
from chat.llm.config import ProviderConfig
from chat.llm.openai_compat import OpenAICompatProvider
from chat.llm.provider import HTTPProvider

FAMILIES: dict[str, type[HTTPProvider]] = {"openai": OpenAICompatProvider, "anthropic": AnthropicProvider}


def build_provider(config: ProviderConfig) -> HTTPProvider:
    return FAMILIES[config.family](config)
