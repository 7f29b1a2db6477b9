"""Voice messages: a socket's recording as it streams in, its transcript, and replies read aloud.

A recording is opened by `audio.start`, fed by the socket's binary frames and closed by `audio.end`
(transcribed, then sent like a typed message, with the recording stored beside it) or `audio.cancel`.
Nothing is stored before a transcript exists: a refused, cancelled, failed or abandoned recording
leaves no row and no file. Replies are read aloud by the turn engine when the person asked for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver

from chat import frames, services, speech
from chat.models import Audio, Message
from chat.protocol import AudioStart, ClientError, ErrorCode
from chat.speech.wav import SAMPLE_WIDTH, Pcm, to_wav, wav_seconds

log = logging.getLogger(__name__)

# A recording whose loudest sample stays under this (about -40 dBFS) holds no speech: a muted or wrong
# microphone. The offline recogniser "hears" words in silence, so it is refused before transcription.
SILENCE_PEAK = 330


@dataclass
class Recording:
    """One socket's recording in progress: its `audio.start` and the chunks received so far, in order."""

    start: AudioStart
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    refused: bool = False  # over a limit: told once, further chunks are dropped until audio.end/cancel

    @property
    def client_id(self) -> str:
        return self.start.client_id

    def add(self, chunk: bytes) -> None:
        """Append a chunk; ClientError (too_large) when it breaks a limit, after which the recording is void."""
        if self.refused:
            return
        problem = self._over_limit(chunk)
        if problem:
            self.refused, self.chunks, self.size = True, [], 0
            raise ClientError(ErrorCode.TOO_LARGE, problem + " Nothing was sent.", self.client_id)
        self.chunks.append(chunk)
        self.size += len(chunk)

    def _over_limit(self, chunk: bytes) -> str:
        if len(chunk) > settings.VOICE_MAX_CHUNK_BYTES:
            return f"An audio chunk is larger than {settings.VOICE_MAX_CHUNK_BYTES} bytes."
        size = self.size + len(chunk)
        if size > settings.VOICE_MAX_BYTES:
            return f"The recording is larger than {settings.VOICE_MAX_BYTES} bytes."
        if size / (SAMPLE_WIDTH * self.start.sample_rate) > settings.VOICE_MAX_SECONDS:
            return f"The recording is longer than {settings.VOICE_MAX_SECONDS:g} seconds."
        return ""

    def pcm(self) -> Pcm:
        data = b"".join(self.chunks)
        return Pcm(data[: len(data) - len(data) % SAMPLE_WIDTH], self.start.sample_rate)


async def transcribe(recording: Recording) -> tuple[str, services.AudioFile]:
    """The recording's transcript and the WAV file to store with it; ClientError saying why when there is none."""
    pcm, client_id = recording.pcm(), recording.client_id
    if not pcm.data:
        raise ClientError(ErrorCode.EMPTY_AUDIO, "The recording is empty; nothing was sent.", client_id)
    if await asyncio.to_thread(pcm.peak) < SILENCE_PEAK:
        raise ClientError(
            ErrorCode.EMPTY_AUDIO,
            "The recording is silent: check that the right microphone is on and not muted. Nothing was sent.", client_id,
        )
    try:
        text = await asyncio.to_thread(speech.get_transcriber().transcribe, pcm)
    except speech.SpeechError as exc:
        raise ClientError(
            ErrorCode.TRANSCRIPTION_FAILED, f"The recording could not be transcribed: {exc.message}. Nothing was sent.",
            client_id,
        ) from None
    text = " ".join(text.split())
    if not text:
        raise ClientError(
            ErrorCode.TRANSCRIPTION_FAILED, "No words were recognised in the recording; nothing was sent.", client_id
        )
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ClientError(ErrorCode.TOO_LARGE, f"The transcript is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters.", client_id)
    return text, services.AudioFile(Audio.Kind.RECORDING, to_wav(pcm), round(pcm.seconds * 1000))


# --- replies read aloud ----------------------------------------------------------------------------

_MARKDOWN = re.compile(r"```.*?```|[*_`#>|]+", re.DOTALL)


def speakable(text: str) -> str:
    """The reply as words to say: markdown marks and code blocks left out, bounded by TTS_MAX_CHARS."""
    return " ".join(_MARKDOWN.sub(" ", text).split())[: settings.TTS_MAX_CHARS]


async def speak(reply: Message) -> dict[str, Any]:
    """Read a completed reply aloud and store the sound with it; the `assistant.audio` frame that says so.

    A failure is part of the conversation, not an error frame: the frame carries `error` and no URL.
    """
    synthesizer = speech.get_synthesizer()
    if synthesizer is None:
        return frames.assistant_audio(reply, error=speech.tts_unavailable_reason())
    try:
        wav = await asyncio.to_thread(synthesizer.synthesize, speakable(reply.content))
        audio = services.AudioFile(Audio.Kind.SPEECH, wav, round(wav_seconds(wav) * 1000))
        reply.audio_id = (await database_sync_to_async(services.speech_attach)(message=reply, audio=audio)).pk
    except speech.SpeechError as exc:
        return frames.assistant_audio(reply, error=f"The reply could not be read aloud: {exc.message}.")
    except Exception:
        log.exception("Reading a reply aloud failed")
        return frames.assistant_audio(reply, error="The reply could not be read aloud; the error is logged.")
    return frames.assistant_audio(reply)


@receiver(post_delete, sender=Audio, dispatch_uid="chat-audio-file-delete")
def _delete_file(sender: type[Audio], instance: Audio, **_: object) -> None:
    """A deleted recording (its conversation deleted) takes its file with it."""
    if instance.file:
        instance.file.delete(save=False)
