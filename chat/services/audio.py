"""Audio: a recording or a reply read aloud, stored through the storage API with no file left behind on failure."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction

from chat.models import Audio, Message


@dataclass(frozen=True)
class AudioFile:
    """A sound to store with a message: a WAV file's bytes and how long it plays."""

    kind: str
    wav: bytes
    duration_ms: int



def _audio_store(conversation_id: int, audio: AudioFile, saved: list[Audio]) -> Audio:
    """Write the file through the storage API and its row; `saved` lists it so a rollback can delete the file."""
    row = Audio(conversation_id=conversation_id, kind=audio.kind, duration_ms=audio.duration_ms, size_bytes=len(audio.wav))
    row.file.save("audio.wav", ContentFile(audio.wav), save=False)
    saved.append(row)
    row.save()
    return row



def _forget_files(saved: list[Audio]) -> None:
    for row in saved:
        row.file.delete(save=False)



def speech_attach(*, message: Message, audio: AudioFile) -> Audio:
    """Store a reply read aloud and link it to the reply; no file is left behind when that fails."""
    saved: list[Audio] = []
    try:
        with transaction.atomic():
            row = _audio_store(message.conversation_id, audio, saved)
            Message.objects.filter(pk=message.pk).update(audio=row)
    except BaseException:
        _forget_files(saved)
        raise
    return row
