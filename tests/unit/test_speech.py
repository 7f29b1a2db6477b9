"""Speech providers and WAV helpers: the wire formats they speak, the errors people read, the settings they need."""

from __future__ import annotations

import json

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured

from chat import speech
from chat.speech.espeak import EspeakSynthesizer
from chat.speech.openai import OpenAISpeech, OpenAITranscriber
from chat.speech.pocketsphinx_stt import PocketSphinxTranscriber
from chat.speech.wav import Pcm, read_wav, resample, to_wav, wav_seconds
from tests.support.voice import ESPEAK_MISSING, espeak_available, tone_pcm

BASE = "https://speech.test/v1"


@pytest.fixture(autouse=True)
def fresh_speech(settings):
    speech.reset_speech()
    yield
    speech.reset_speech()


def test_a_wav_round_trip_keeps_every_sample_and_says_how_long_it_plays():
    pcm = Pcm(tone_pcm(0.25), 16000)
    wav = to_wav(pcm)
    assert wav[:4] == b"RIFF" and read_wav(wav) == pcm
    assert wav_seconds(wav) == pytest.approx(0.25) and wav_seconds(b"not a wav") == 0.0


def test_resampling_keeps_the_length_in_seconds():
    pcm = Pcm(tone_pcm(0.5, rate=22050), 22050)
    assert resample(pcm, 16000).seconds == pytest.approx(0.5, abs=0.001)
    assert resample(pcm, 22050) == pcm


def test_read_wav_refuses_what_is_not_16_bit_pcm():
    with pytest.raises(ValueError, match="not a PCM WAV"):
        read_wav(b"RIFF....WAVEfmt nonsense")


@responses.activate
def test_the_openai_transcriber_uploads_a_wav_as_multipart_and_reads_json_text(monkeypatch):
    monkeypatch.setenv("STT_KEY", "sk-voice")
    responses.post(f"{BASE}/audio/transcriptions", json={"text": " what is 12 times 7 "})
    pcm = Pcm(tone_pcm(0.1), 16000)
    transcriber = OpenAITranscriber(base_url=BASE, model="whisper-1", api_key_env="STT_KEY", timeout=5, language="en")

    assert transcriber.transcribe(pcm) == "what is 12 times 7"
    request = responses.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.headers["Authorization"] == "Bearer sk-voice"
    body = request.body
    assert b'name="model"\r\n\r\nwhisper-1' in body and b'name="language"\r\n\r\nen' in body
    assert b'filename="recording.wav"' in body and b"Content-Type: audio/wav" in body and to_wav(pcm) in body


@responses.activate
def test_a_transcription_service_error_is_said_with_its_status_and_words():
    responses.post(f"{BASE}/audio/transcriptions", status=429, json={"error": {"message": "Rate limit reached"}})
    transcriber = OpenAITranscriber(base_url=BASE, model="whisper-1", api_key_env="", timeout=5)
    with pytest.raises(speech.SpeechError) as failed:
        transcriber.transcribe(Pcm(tone_pcm(0.1), 16000))
    assert failed.value.message == "the speech service answered HTTP 429: Rate limit reached"


@responses.activate
def test_the_openai_synthesiser_posts_json_and_returns_the_audio():
    responses.post(f"{BASE}/audio/speech", body=b"RIFF-wav-bytes", content_type="audio/wav")
    voice = OpenAISpeech(base_url=BASE, model="tts-1", api_key_env="", timeout=5, voice="nova")
    assert voice.synthesize("Eighty-four.") == b"RIFF-wav-bytes"
    assert json.loads(responses.calls[0].request.body) == {
        "model": "tts-1", "input": "Eighty-four.", "voice": "nova", "response_format": "wav",
    }


@pytest.mark.skipif(not espeak_available(), reason=ESPEAK_MISSING)
def test_espeak_says_text_as_a_real_wav_even_when_it_looks_like_an_option():
    wav = EspeakSynthesizer(timeout=10).synthesize("--help me")
    assert wav[:4] == b"RIFF" and wav_seconds(wav) > 0.3


def test_defaults_are_the_offline_recogniser_and_espeak_when_installed(settings):
    assert isinstance(speech.get_transcriber(), PocketSphinxTranscriber)
    assert speech.get_transcriber().label == "offline demo recogniser"
    assert isinstance(speech.get_synthesizer(), EspeakSynthesizer) == espeak_available()


def test_without_a_synthesiser_replies_stay_text_with_a_one_line_reason(settings):
    settings.TTS_PROVIDER = "none"
    assert speech.get_synthesizer() is None
    assert speech.tts_unavailable_reason() == (
        "Spoken replies are turned off on this server (TTS_PROVIDER=none); replies stay text."
    )


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("STT_PROVIDER", "whisper", "STT_PROVIDER must be pocketsphinx or openai"),
        ("TTS_PROVIDER", "say", "TTS_PROVIDER must be espeak, openai or none"),
        ("STT_PROVIDER", "openai", "STT_PROVIDER=openai needs STT_BASE_URL"),
    ],
)
def test_a_wrong_speech_setting_stops_the_start_naming_it(settings, setting, value, message):
    setattr(settings, setting, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        speech.check_configuration()


def test_a_key_variable_that_is_not_set_is_refused_at_start(settings, monkeypatch):
    monkeypatch.delenv("MISSING_STT_KEY", raising=False)
    settings.STT_PROVIDER, settings.STT_BASE_URL, settings.STT_API_KEY_ENV = "openai", BASE, "MISSING_STT_KEY"
    with pytest.raises(ImproperlyConfigured, match="STT_API_KEY_ENV names MISSING_STT_KEY"):
        speech.check_configuration()


def test_a_reply_is_read_without_its_markdown_and_up_to_tts_max_chars_exactly(settings):
    from chat.voice import speakable

    settings.TTS_MAX_CHARS = 20
    assert speakable("**Twelve** times seven.\n\n```python\nprint(84)\n```") == "Twelve times seven."  # no code read out
    assert speakable("a" * 20) == "a" * 20  # at the limit: all of it
    assert speakable("b" * 21) == "b" * 20  # one past: cut at the limit
