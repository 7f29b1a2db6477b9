"""The ordered list of LLM providers, read from settings.LLM_PROVIDERS (JSON) or LLM_PROVIDERS_FILE.

Every mistake (bad JSON, unknown family, missing field, unset key variable) raises
ImproperlyConfigured naming the provider and the field, at startup, without any network I/O.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from chat.config_errors import describe


class ProviderConfig(BaseModel):
    """One provider entry; unknown fields are refused so a typo cannot pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    family: Literal["openai", "anthropic"]
    base_url: HttpUrl
    model: str = Field(min_length=1)
    api_key_env: str = ""  # optional for OpenAI-compatible servers without auth (Ollama, llama.cpp)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(default=1, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    retry_max_delay_seconds: float = Field(default=30.0, ge=0)
    breaker_failure_threshold: int = Field(default=3, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, ge=0)
    # Keep-alive connections kept open to the provider: at least the replies streaming at once, or each
    # reply past it opens a new connection and urllib3 warns "Connection pool is full" as it ends.
    max_connections: int = Field(default=256, ge=1, le=10_000)

    @property
    def url_root(self) -> str:
        return str(self.base_url).rstrip("/")

    def api_key(self) -> str:
        """The key read from the named environment variable ("" when none is configured)."""
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


def load_providers() -> list[ProviderConfig]:
    """Parse and validate the configured providers; [] means the offline demo model."""
    raw = _raw_entries()
    providers = [_validate(entry, position) for position, entry in enumerate(raw, start=1)]
    names = [p.name for p in providers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ImproperlyConfigured(f"LLM provider names must be unique; repeated: {', '.join(duplicates)}")
    for provider in providers:
        _check_key(provider)
    return providers


def provider_names() -> list[str]:
    """The configured providers' names, in the chain's order (a persona may name one to be tried first)."""
    return [provider.name for provider in load_providers()]


def _raw_entries() -> list[Any]:
    text = getattr(settings, "LLM_PROVIDERS", "") or ""
    path = getattr(settings, "LLM_PROVIDERS_FILE", "") or ""
    if text.strip() and path:
        raise ImproperlyConfigured("Set LLM_PROVIDERS or LLM_PROVIDERS_FILE, not both.")
    if text.strip():
        data = _parse_json(text, "LLM_PROVIDERS")
    elif path:
        data = _read_file(Path(path))
    else:
        return []
    if isinstance(data, dict) and set(data) == {"providers"}:
        data = data["providers"]
    if not isinstance(data, list):
        raise ImproperlyConfigured('LLM providers must be a list of objects (or {"providers": [...]}).')
    return data


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{source} is not valid JSON: {exc}") from exc


def _read_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"LLM_PROVIDERS_FILE {path} cannot be read: {exc.strerror}") from exc
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ImproperlyConfigured(f"LLM_PROVIDERS_FILE {path} is not valid TOML: {exc}") from exc
    return _parse_json(text, f"LLM_PROVIDERS_FILE {path}")


def _validate(entry: Any, position: int) -> ProviderConfig:
    label = f"#{position}"
    if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]:
        label = repr(entry["name"])
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"LLM provider {label} must be an object, not {type(entry).__name__}.")
    try:
        return ProviderConfig.model_validate(entry)
    except ValidationError as exc:
        raise ImproperlyConfigured(f"LLM provider {label}: {describe(exc)}") from None


def _check_key(provider: ProviderConfig) -> None:
    if provider.family == "anthropic" and not provider.api_key_env:
        raise ImproperlyConfigured(
            f"LLM provider '{provider.name}': field 'api_key_env' is required for the anthropic family."
        )
    if provider.api_key_env and not os.environ.get(provider.api_key_env):
        raise ImproperlyConfigured(
            f"LLM provider '{provider.name}': field 'api_key_env' names the environment variable "
            f"{provider.api_key_env}, which is not set."
        )
