"""LLM providers: one module per provider family, a fallback chain, and the offline demo model."""

from __future__ import annotations

from django.conf import settings

from chat.llm.base import LLM

_llm: LLM | None = None


def get_llm() -> LLM:
    """The LLM the turn engine talks to, built once per process from settings."""
    global _llm
    if _llm is None:
        from chat.llm.demo import DemoModel

        _llm = DemoModel(token_delay=getattr(settings, "DEMO_TOKEN_DELAY_SECONDS", 0.0))
    return _llm


def reset_llm() -> None:
    """Forget the built LLM so the next turn reads settings again (tests, settings changes)."""
    global _llm
    _llm = None
