"""Provider configuration: what an operator writes, and the messages a mistake gets at startup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import responses
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from chat.llm import check_configuration, get_llm, reset_llm
from chat.llm.chain import ProviderChain
from chat.llm.config import ProviderConfig
from chat.llm.demo import DemoModel

PRIMARY = {"name": "primary", "family": "openai", "base_url": "https://llm.test/v1", "model": "gpt-4o-mini",
           "api_key_env": "LLM_TEST_KEY"}
BACKUP = {"name": "backup", "family": "anthropic", "base_url": "https://anthropic.test/v1",
          "model": "claude-3-5-haiku-latest", "api_key_env": "LLM_TEST_KEY", "read_timeout": 30}


@pytest.fixture(autouse=True)
def fresh_llm(settings, monkeypatch):
    monkeypatch.setenv("LLM_TEST_KEY", "sk-test")
    settings.LLM_PROVIDERS, settings.LLM_PROVIDERS_FILE = "", ""
    reset_llm()
    yield
    reset_llm()


def test_nothing_configured_means_the_offline_demo_model():
    llm = get_llm()
    assert isinstance(llm, DemoModel)
    assert (llm.label, llm.offline) == ("offline demo", True)


def test_json_setting_builds_the_chain_in_order(settings):
    settings.LLM_PROVIDERS = json.dumps([PRIMARY, BACKUP])
    llm = get_llm()
    assert isinstance(llm, ProviderChain) and llm.offline is False
    assert llm.label == "primary (gpt-4o-mini), then backup (claude-3-5-haiku-latest)"
    assert [p.config.read_timeout for p in llm.providers] == [60.0, 30.0]


def test_toml_file_with_provider_tables(settings, tmp_path):
    path = tmp_path / "providers.toml"
    path.write_text(
        '[[providers]]\nname = "local"\nfamily = "openai"\nbase_url = "http://127.0.0.1:11434/v1"\n'
        'model = "llama3.2"\nread_timeout = 120\n'
    )
    settings.LLM_PROVIDERS_FILE = str(path)
    llm = get_llm()
    assert llm.label == "local (llama3.2)"
    assert llm.providers[0].headers() == {}, "no key variable, no Authorization header (Ollama needs none)"


def test_json_file_with_a_providers_object(settings, tmp_path):
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"providers": [BACKUP]}))
    settings.LLM_PROVIDERS_FILE = str(path)
    assert get_llm().label == "backup (claude-3-5-haiku-latest)"


def test_missing_key_variable_names_provider_field_and_variable(settings, monkeypatch):
    monkeypatch.delenv("LLM_TEST_KEY")
    settings.LLM_PROVIDERS = json.dumps([PRIMARY])
    with pytest.raises(ImproperlyConfigured, match=r"LLM provider 'primary': field 'api_key_env' .*LLM_TEST_KEY.*not set"):
        check_configuration()


@pytest.mark.parametrize(("change", "expected"), [
    ({"family": "gemini"}, r"LLM provider 'primary': field 'family'"),
    ({"read_timout": 5}, r"LLM provider 'primary': field 'read_timout': Extra inputs are not permitted"),
    ({"read_timeout": 0}, r"LLM provider 'primary': field 'read_timeout': Input should be greater than 0"),
    ({"base_url": "not a url"}, r"LLM provider 'primary': field 'base_url'"),
    ({"model": None}, r"LLM provider 'primary': field 'model'"),
])
def test_malformed_entry_names_provider_and_field(settings, change, expected):
    settings.LLM_PROVIDERS = json.dumps([{**PRIMARY, **change}])
    with pytest.raises(ImproperlyConfigured, match=expected):
        check_configuration()


def test_entry_without_a_name_is_named_by_position(settings):
    settings.LLM_PROVIDERS = json.dumps([PRIMARY, {k: v for k, v in BACKUP.items() if k != "name"}])
    with pytest.raises(ImproperlyConfigured, match=r"LLM provider #2: field 'name': Field required"):
        check_configuration()


def test_anthropic_needs_a_key_variable(settings):
    settings.LLM_PROVIDERS = json.dumps([{k: v for k, v in BACKUP.items() if k != "api_key_env"}])
    with pytest.raises(ImproperlyConfigured, match=r"'backup': field 'api_key_env' is required"):
        check_configuration()


def test_invalid_json_and_duplicate_names_are_refused(settings):
    settings.LLM_PROVIDERS = "[{"
    with pytest.raises(ImproperlyConfigured, match="LLM_PROVIDERS is not valid JSON"):
        check_configuration()
    settings.LLM_PROVIDERS = json.dumps([PRIMARY, PRIMARY])
    with pytest.raises(ImproperlyConfigured, match="repeated: primary"):
        check_configuration()


def test_unreadable_file_is_named(settings, tmp_path):
    settings.LLM_PROVIDERS_FILE = str(tmp_path / "missing.json")
    with pytest.raises(ImproperlyConfigured, match=r"LLM_PROVIDERS_FILE .*missing.json cannot be read"):
        check_configuration()


def test_startup_check_makes_no_network_request(settings):
    settings.LLM_PROVIDERS = json.dumps([PRIMARY, BACKUP])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        check_configuration()
        get_llm()
        assert len(mock.calls) == 0


def test_a_provider_gets_the_documented_defaults():
    """docs/configuration.md "Fields": the defaults of everything an entry may leave out."""
    config = ProviderConfig(name="p", family="openai", base_url="https://llm.test/v1", model="m")
    assert config.model_dump(exclude={"name", "family", "base_url", "model"}) == {
        "api_key_env": "", "connect_timeout": 5.0, "read_timeout": 60.0, "max_tokens": None, "headers": {},
        "max_retries": 1, "retry_backoff_seconds": 0.5, "retry_max_delay_seconds": 30.0,
        "breaker_failure_threshold": 3, "breaker_cooldown_seconds": 30.0, "max_connections": 256,
    }


def test_both_settings_at_once_are_refused(settings, tmp_path):
    path = tmp_path / "providers.json"
    path.write_text(json.dumps([PRIMARY]))
    settings.LLM_PROVIDERS, settings.LLM_PROVIDERS_FILE = json.dumps([BACKUP]), str(path)
    with pytest.raises(ImproperlyConfigured, match="Set LLM_PROVIDERS or LLM_PROVIDERS_FILE, not both"):
        check_configuration()


@pytest.mark.parametrize("name", ["my provider", "primary/2", ""])
def test_a_name_outside_letters_digits_and_dot_dash_underscore_is_refused(settings, name):
    settings.LLM_PROVIDERS = json.dumps([{**PRIMARY, "name": name}])
    with pytest.raises(ImproperlyConfigured, match=r"field 'name'"):
        check_configuration()


def test_a_bad_provider_stops_the_site_from_starting_naming_it(monkeypatch):
    """configuration.md: a wrong setting fails at start, never at the first message (ChatConfig.ready())."""
    environment = {**os.environ, "LLM_PROVIDERS": json.dumps([{**PRIMARY, "read_timout": 5}]),
                   "SECRET_KEY": "x", "ALLOWED_HOSTS": "localhost"}
    started = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=django_settings.BASE_DIR, env=environment,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert started.returncode != 0, started.stdout
    assert "ImproperlyConfigured: LLM provider 'primary': field 'read_timout': Extra inputs are not permitted" in started.stderr
