"""Checking an upload for a decodable audio stream (PyAV) in a short-lived child process.

FFmpeg parses untrusted bytes here; in a child, a crash or a hang in a demuxer cannot take a web
worker down, and PyAV with its FFmpeg libraries and NumPy stays out of the workers' memory.
The child runs ``python -m runner.daemon.probe FILE`` (the web never imports PyAV itself): exit 0
and ``{"duration": seconds|null}`` on stdout, or exit 3 and the reason on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner.core.errors import SpoolscribeError

PROBE_TIMEOUT = 60.0  # seconds
REFUSED = 3  # runner.daemon.probe's exit status for a file that is not usable media


class MediaRefused(SpoolscribeError):
    """The upload has no decodable audio; the message says why, for the person who sent it."""


def probe_upload(path: Path, timeout: float = PROBE_TIMEOUT) -> float | None:
    """Probe ``path`` in a child process; return the declared audio duration in seconds (or None).

    Raises:
        MediaRefused: empty, not media, no audio stream, or the probe crashed or timed out.
    """
    try:
        child = subprocess.run([sys.executable, "-I", "-m", "runner.daemon.probe", str(path)], capture_output=True,
                               text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaRefused(f"the file could not be read as media within {timeout:.0f} s") from None
    if child.returncode == 0:
        return json.loads(child.stdout)["duration"]
    if child.returncode == REFUSED:
        raise MediaRefused(child.stdout.strip())
    raise MediaRefused("the file could not be read as media (the decoder stopped with an error)")
