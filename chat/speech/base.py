"""What every speech provider is: a transcriber turns a recording into text, a synthesiser text into a WAV."""

from __future__ import annotations

from typing import Protocol

from chat.speech.wav import Pcm


class SpeechError(Exception):
    """A provider could not do its job; `message` says why in words a person can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Transcriber(Protocol):
    label: str
    offline: bool

    def transcribe(self, pcm: Pcm) -> str:
        """The words spoken in the recording (blocking: call it in a thread); SpeechError when it fails."""
        ...


class Synthesizer(Protocol):
    label: str
    offline: bool

    def synthesize(self, text: str) -> bytes:
        """A WAV file saying `text` (blocking: call it in a thread); SpeechError when it fails."""
        ...
