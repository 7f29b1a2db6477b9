"""The offline demo recogniser: pocketsphinx with the English model its PyPI wheel ships (no download).

Rough on synthetic or noisy speech; it is there so voice works on a fresh machine with no network.
"""

from __future__ import annotations

import threading

from chat.speech.base import SpeechError
from chat.speech.wav import Pcm, resample

RATE = 16000


class PocketSphinxTranscriber:
    label = "offline demo recogniser"
    offline = True

    def __init__(self) -> None:
        self._decoder = None
        self._lock = threading.Lock()  # one decoder, one utterance at a time (loading it costs ~0.4 s)

    def transcribe(self, pcm: Pcm) -> str:
        with self._lock:
            decoder = self._load()
            decoder.start_utt()
            decoder.process_raw(resample(pcm, RATE).data, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
        return hypothesis.hypstr.strip() if hypothesis is not None else ""

    def _load(self):  # noqa: ANN202 - pocketsphinx has no type hints
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder
            except ImportError:
                raise SpeechError("the offline recogniser (pocketsphinx) is not installed") from None
            self._decoder = Decoder(samprate=RATE, loglevel="FATAL")
        return self._decoder
