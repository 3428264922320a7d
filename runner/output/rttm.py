"""RTTM, the NIST Rich Transcription Time Marked format, for a transcript's speaker turns.

One line per turn: ``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``, times in
seconds with millisecond precision (NIST RT-09 evaluation plan, appendix A; what pyannote.core's
``Annotation.write_rttm`` and ``pyannote.database.util.load_rttm`` use). Fields are separated by
single spaces, so whitespace inside the file name or a speaker name becomes ``_``.
"""

from __future__ import annotations

from typing import Any

from runner.core.transcript import Transcript, to_milliseconds
from runner.output.naming import safe_stem


def _field(text: str, fallback: str) -> str:
    return "_".join(str(text).split()) or fallback


def rttm_uri(metadata: dict[str, Any]) -> str:
    """The RTTM file field: the output stem of the original file name (``metadata["file"]``),
    else the job id."""
    fallback = _field(str(metadata.get("job_id") or ""), "audio")
    return _field(safe_stem(str(metadata.get("file") or ""), fallback), fallback)


def to_rttm(transcript: Transcript, metadata: dict[str, Any]) -> str:
    """The transcript's speaker turns as RTTM text (empty when there are none)."""
    uri = rttm_uri(metadata)
    lines = []
    for turn in transcript.turns or ():
        start = to_milliseconds(turn.start)
        duration = max(0, to_milliseconds(turn.end) - start)
        lines.append(f"SPEAKER {uri} 1 {start / 1000:.3f} {duration / 1000:.3f} <NA> <NA> "
                     f"{_field(turn.speaker, 'unknown')} <NA> <NA>\n")
    return "".join(lines)
