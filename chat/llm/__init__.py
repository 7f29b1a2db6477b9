"""LLM providers: one module per provider family, a fallback chain, and the offline demo model."""

from __future__ import annotations

from django.conf import settings

from chat.llm.base import LLM

_llm: LLM | None = None


def get_llm() -> LLM:
    """The LLM the turn engine talks to, built once per process from settings.

    The configured providers as a fallback chain, or the offline demo model when none is configured.
    Either exposes `label` (shown on the chat page) and `offline`.
    """
    global _llm
    if _llm is None:
        _llm = _build()
    return _llm


def reset_llm() -> None:
    """Forget the built LLM so the next turn reads settings again (tests, settings changes)."""
    global _llm
    _llm = None


def check_configuration() -> None:
    """Validate the provider settings at startup (ImproperlyConfigured); reads no network."""
    from chat.llm.config import load_providers

    load_providers()


def _build() -> LLM:
    from chat.llm.config import load_providers

    configs = load_providers()
    if not configs:
        from chat.llm.demo import DemoModel

        return DemoModel(token_delay=getattr(settings, "DEMO_TOKEN_DELAY_SECONDS", 0.0))
    from chat.llm.chain import ProviderChain
    from chat.llm.registry import build_provider

    return ProviderChain([build_provider(config) for config in configs])
