"""Speech providers, one module per outside service, chosen by settings like the LLM's (docs/configuration.md "Voice").

    get_transcriber()   speech to text: pocketsphinx offline (the default) or an OpenAI-compatible server
    get_synthesizer()   text to speech: espeak-ng offline when installed, an OpenAI-compatible server, or None
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.speech.base import SpeechError, Synthesizer, Transcriber

__all__ = ["SpeechError", "Synthesizer", "Transcriber", "check_configuration", "get_synthesizer", "get_transcriber",
           "reset_speech", "tts_unavailable_reason"]

_transcriber: Transcriber | None = None
_synthesizer: Synthesizer | None = None
_built_synthesizer = False


def get_transcriber() -> Transcriber:
    global _transcriber
    if _transcriber is None:
        _transcriber = _build_transcriber()
    return _transcriber


def get_synthesizer() -> Synthesizer | None:
    """The synthesiser for spoken replies, or None when there is none (replies stay text)."""
    global _synthesizer, _built_synthesizer
    if not _built_synthesizer:
        _synthesizer, _built_synthesizer = _build_synthesizer(), True
    return _synthesizer


def tts_unavailable_reason() -> str:
    """Why replies cannot be spoken, in one line for the page; empty when they can."""
    if get_synthesizer() is not None:
        return ""
    if settings.TTS_PROVIDER == "none":
        return "Spoken replies are turned off on this server (TTS_PROVIDER=none); replies stay text."
    return "Spoken replies need espeak-ng, which is not installed on this server; replies stay text."


def reset_speech() -> None:
    """Forget the built providers so the next use reads settings again (tests, settings changes)."""
    global _transcriber, _synthesizer, _built_synthesizer
    _transcriber, _synthesizer, _built_synthesizer = None, None, False


def check_configuration() -> None:
    """Validate the speech settings at startup (ImproperlyConfigured); reads no network."""
    _build_transcriber()
    _build_synthesizer()


def _build_transcriber() -> Transcriber:
    provider = settings.STT_PROVIDER
    if provider == "pocketsphinx":
        from chat.speech.pocketsphinx_stt import PocketSphinxTranscriber

        return PocketSphinxTranscriber()
    if provider == "openai":
        from chat.speech.openai import OpenAITranscriber

        return OpenAITranscriber(
            base_url=_base_url("STT"), model=settings.STT_MODEL, api_key_env=_key_env("STT"),
            timeout=settings.STT_TIMEOUT_SECONDS, language=settings.STT_LANGUAGE,
        )
    raise ImproperlyConfigured(f"STT_PROVIDER must be pocketsphinx or openai, not {provider!r}")


def _build_synthesizer() -> Synthesizer | None:
    provider = settings.TTS_PROVIDER
    if provider == "none":
        return None
    if provider == "espeak":
        from chat.speech import espeak

        return espeak.EspeakSynthesizer(settings.TTS_TIMEOUT_SECONDS) if espeak.available() else None
    if provider == "openai":
        from chat.speech.openai import OpenAISpeech

        return OpenAISpeech(
            base_url=_base_url("TTS"), model=settings.TTS_MODEL, api_key_env=_key_env("TTS"),
            timeout=settings.TTS_TIMEOUT_SECONDS, voice=settings.TTS_VOICE,
        )
    raise ImproperlyConfigured(f"TTS_PROVIDER must be espeak, openai or none, not {provider!r}")


def _base_url(prefix: str) -> str:
    url = getattr(settings, f"{prefix}_BASE_URL")
    if not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{prefix}_PROVIDER=openai needs {prefix}_BASE_URL (e.g. https://api.openai.com/v1).")
    return url


def _key_env(prefix: str) -> str:
    import os

    name = getattr(settings, f"{prefix}_API_KEY_ENV")
    if name and not os.environ.get(name):
        raise ImproperlyConfigured(f"{prefix}_API_KEY_ENV names {name}, which is not set in the environment.")
    return name
