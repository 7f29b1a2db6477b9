"""Voice helpers the suites share: test audio (tones, espeak-ng speech), a recording sent over a socket,
and the site pointed at the fake server's audio endpoints.

    pcm = tone_pcm(0.5)                                    # 16 kHz mono 16-bit samples
    await send_recording(comm, chunks(pcm, 4), "c1")       # audio.start, binary chunks, audio.end
    wav = espeak_wav("what is twelve times seven")         # None when espeak-ng is missing (ESPEAK_MISSING says so)
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage

from tests.support.socket import send

RATE = 16000
ESPEAK = "espeak-ng"
ESPEAK_MISSING = f"{ESPEAK} is not installed (apt-get install espeak-ng; `make test` installs it when run as root)"


def tone_pcm(seconds: float, rate: int = RATE, hz: float = 220.0) -> bytes:
    """Mono 16-bit little-endian samples of a tone; every sample differs from its neighbours, so order shows."""
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)) + i % 7) for i in range(int(seconds * rate)))


def chunks(data: bytes, count: int) -> list[bytes]:
    """data cut into `count` pieces of unequal length (a browser's chunks are not equal either)."""
    cuts = sorted({len(data) * k // count + (k % 3) for k in range(1, count)} | {0, len(data)})
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def espeak_wav(text: str, path: Path | None = None) -> bytes | None:
    """A WAV of espeak-ng saying `text` (22,050 Hz mono), also written to `path` when given; None without espeak-ng."""
    program = shutil.which(ESPEAK)
    if program is None:
        return None
    wav = subprocess.run([program, "--stdout", text], capture_output=True, check=True, timeout=30).stdout
    if path is not None:
        path.write_bytes(wav)
    return wav


async def send_recording(
    comm: Any, pieces: list[bytes], client_id: str, *, conversation_id: int | None = None, speak: bool = False,
    sample_rate: int = RATE, audio_format: str = "pcm_s16le", end: bool = True,
) -> None:
    """Record over the socket as the page does: `audio.start`, one binary frame per piece, then `audio.end`."""
    await send(
        comm, "audio.start", client_id=client_id, conversation_id=conversation_id, format=audio_format,
        sample_rate=sample_rate, speak=speak,
    )
    for piece in pieces:
        await comm.send_to(bytes_data=piece)
    if end:
        await send(comm, "audio.end", client_id=client_id)


def fake_speech_env(base_url: str) -> dict[str, str]:
    """Speech to text and text to speech at the fake server's OpenAI-compatible audio endpoints, as settings."""
    return {
        "STT_PROVIDER": "openai", "STT_BASE_URL": base_url, "STT_MODEL": "whisper-1",
        "TTS_PROVIDER": "openai", "TTS_BASE_URL": base_url, "TTS_MODEL": "tts-1", "TTS_VOICE": "alloy",
    }


def use_fake_speech(config: Any, base_url: str) -> None:
    """The same for this process (pytest-django's `settings` fixture)."""
    for name, value in fake_speech_env(base_url).items():
        setattr(config, name, value)


def stored_audio_files() -> list[str]:
    """Every file under MEDIA_ROOT's audio folder (what the storage API holds), relative paths."""
    root = Path(settings.MEDIA_ROOT) / "audio"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()
