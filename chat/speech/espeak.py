"""Offline spoken replies with espeak-ng, when the program is installed (`make run` installs it as root)."""

from __future__ import annotations

import shutil
import subprocess

from chat.speech.base import SpeechError

PROGRAM = "espeak-ng"


def available() -> bool:
    return shutil.which(PROGRAM) is not None


class EspeakSynthesizer:
    label = "espeak-ng"
    offline = True

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def synthesize(self, text: str) -> bytes:
        program = shutil.which(PROGRAM)
        if program is None:
            raise SpeechError(f"{PROGRAM} is not installed")
        try:
            # The text goes in on stdin, never as an argument: it cannot be read as an option.
            done = subprocess.run(
                [program, "--stdout"], input=text.encode(), capture_output=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise SpeechError(f"{PROGRAM} took longer than {self.timeout:g} s") from None
        if done.returncode != 0 or not done.stdout:
            raise SpeechError(f"{PROGRAM} failed: {done.stderr.decode(errors='replace').strip()[:200]}")
        return done.stdout
