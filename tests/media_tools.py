"""Making test media: FFmpeg and espeak-ng run as child processes, each bounded in time.

Every generated input of the tests is built from these two, so a test's media is described by the
commands that made it (no binary blobs beyond the recordings in tests/data).
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    """Run ``ffmpeg -y`` with ``args``, quietly.

    Raises:
        subprocess.CalledProcessError: FFmpeg failed (its stderr is in the exception).
        subprocess.TimeoutExpired: it ran over 120 s.
    """
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=120, capture_output=True)


def speak(text: str, out: Path, voice: str = "en", words_per_minute: int = 150) -> Path:
    """Synthesise ``text`` with espeak-ng's ``voice`` (e.g. ``en``, ``de``) into the WAV file ``out``
    (22,050 Hz mono, 16-bit); return ``out``.

    Raises:
        subprocess.CalledProcessError: espeak-ng failed, e.g. an unknown voice.
        subprocess.TimeoutExpired: it ran over 60 s.
    """
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), text],
                   check=True, timeout=60, capture_output=True)
    return out
