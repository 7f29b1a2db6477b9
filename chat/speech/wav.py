"""WAV and 16-bit PCM helpers: wrap what the browser streams, read what a synthesiser returns, resample."""

from __future__ import annotations

import array
import io
import sys
import wave
from dataclasses import dataclass

SAMPLE_WIDTH = 2  # 16-bit signed little-endian samples (pcm_s16le)


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit PCM samples at `rate` Hz."""

    data: bytes
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.data) / (SAMPLE_WIDTH * self.rate)

    def peak(self) -> int:
        """The largest absolute sample value (0 to 32768)."""
        samples = array.array("h", self.data[: len(self.data) - len(self.data) % SAMPLE_WIDTH])
        if sys.byteorder != "little":
            samples.byteswap()
        return max((abs(s) for s in samples), default=0)


def to_wav(pcm: Pcm) -> bytes:
    """A mono 16-bit WAV file holding these samples."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(pcm.rate)
        w.writeframes(pcm.data)
    return out.getvalue()


def read_wav(data: bytes) -> Pcm:
    """The samples of a 16-bit PCM WAV file, mixed down to mono; ValueError when it is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from None
    if width != SAMPLE_WIDTH:
        raise ValueError(f"expected 16-bit samples, got {8 * width}-bit")
    if channels > 1:
        samples = _samples(frames)
        frames = array.array("h", (sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels))).tobytes()
    return Pcm(frames, rate)


def wav_seconds(data: bytes) -> float:
    """How long a WAV file plays; 0.0 when it is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (wave.Error, EOFError):
        return 0.0


def resample(pcm: Pcm, rate: int) -> Pcm:
    """The same sound at another sample rate (linear interpolation: enough for speech recognition)."""
    if pcm.rate == rate or not pcm.data:
        return Pcm(pcm.data, rate)
    src = _samples(pcm.data)
    count = int(len(src) * rate / pcm.rate)
    step = pcm.rate / rate
    last = len(src) - 1
    out = array.array("h", bytes(SAMPLE_WIDTH * count))
    for i in range(count):
        pos = i * step
        j = int(pos)
        a = src[j]
        b = src[j + 1] if j < last else a
        out[i] = int(a + (b - a) * (pos - j))
    return Pcm(_little_endian(out), rate)


def _samples(data: bytes) -> array.array:
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % SAMPLE_WIDTH])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _little_endian(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()
