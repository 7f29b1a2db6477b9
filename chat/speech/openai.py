"""OpenAI-compatible audio endpoints: OpenAI, faster-whisper servers, LocalAI, vLLM, ...

Speech to text: POST {base_url}/audio/transcriptions, multipart/form-data with `file` (a WAV) and
`model`, answered with JSON `{"text": ...}`. Text to speech: POST {base_url}/audio/speech with JSON
`{"model", "input", "voice", "response_format": "wav"}`, answered with the audio bytes.
"""

from __future__ import annotations

import os

import requests

from chat.llm.transport import provider_message
from chat.speech.base import SpeechError
from chat.speech.wav import Pcm, to_wav


class _Endpoint:
    def __init__(self, *, base_url: str, model: str, api_key_env: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.label = model
        self.offline = False

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post(self, path: str, **kwargs: object) -> requests.Response:
        try:
            response = requests.post(
                f"{self.base_url}{path}", headers=self._headers(), timeout=(5, self.timeout), **kwargs  # type: ignore[arg-type]
            )
        except requests.exceptions.Timeout:
            raise SpeechError(f"the speech service did not answer within {self.timeout:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise SpeechError(f"the speech service could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 400:
            detail = provider_message(response.content)
            raise SpeechError(f"the speech service answered HTTP {response.status_code}" + (f": {detail}" if detail else ""))
        return response


class OpenAITranscriber(_Endpoint):
    def __init__(self, *, language: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.language = language

    def transcribe(self, pcm: Pcm) -> str:
        data = {"model": self.model, "response_format": "json"}
        if self.language:
            data["language"] = self.language
        response = self._post("/audio/transcriptions", data=data, files={"file": ("recording.wav", to_wav(pcm), "audio/wav")})
        try:
            text = response.json()["text"]
        except (ValueError, KeyError, TypeError):
            raise SpeechError("the speech service's answer has no text") from None
        return str(text).strip()


class OpenAISpeech(_Endpoint):
    def __init__(self, *, voice: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.voice = voice

    def synthesize(self, text: str) -> bytes:
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": "wav"}
        response = self._post("/audio/speech", json=body)
        if not response.content:
            raise SpeechError("the speech service returned no audio")
        return response.content
