"""Output formats: plain text, SubRip (SRT), WebVTT and JSON, rendered from a ``Transcript``.

Sources: SRT as described by the SubRip format's de-facto specification (numbered cues,
``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line between cues); WebVTT per the W3C WebVTT
recommendation, https://www.w3.org/TR/webvtt1/ (``WEBVTT`` header, ``HH:MM:SS.mmm`` timestamps,
``&``, ``<`` and ``>`` escaped in cue text, no ``-->`` inside a cue).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from runner.core.transcript import Segment, Transcript, round_ms, to_milliseconds
from runner.output.cues import Cue, CueLimits, shape_cues, unlabelled_lines
from runner.output.rttm import to_rttm
from runner.output.speakers import speakers_of

DEFAULT_LIMITS = CueLimits()


def format_timestamp(seconds: float, decimal_marker: str) -> str:
    """Format ``seconds`` (>= 0) as ``HH:MM:SS<marker>mmm``, hours always present.

    Rounds half up to whole milliseconds first, so the millisecond field is never 1000
    (59.9995 s gives ``00:01:00,000``). Hours grow past two digits when needed.
    """
    millis = to_milliseconds(seconds)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def _marked(transcript: Transcript) -> list[tuple[Segment, str]]:
    """Each segment with text, with its lines, ``[SPEAKER]`` before the first where the speaker changes."""
    marked, previous = [], None
    for segment in (s for s in transcript.segments if s.text.strip()):
        text = "\n".join(line for line in segment.text.splitlines() if line.strip())
        if segment.speaker is not None and segment.speaker != previous:
            text = f"[{segment.speaker}] {text}"
        marked.append((segment, text))
        previous = segment.speaker
    return marked


def _cue_times(cue: Cue, marker: str) -> str:
    return f"{format_timestamp(cue.start, marker)} --> {format_timestamp(cue.end, marker)}"


def to_txt(transcript: Transcript) -> str:
    """One line of text per segment; ``[SPEAKER]`` before a line where the speaker changes."""
    text = "\n".join(text for _, text in _marked(transcript))
    return text + "\n" if text else ""


def to_srt(transcript: Transcript, limits: CueLimits = DEFAULT_LIMITS) -> str:
    """SubRip: for each cue (``runner.output.cues.shape_cues``), ``index``, ``start --> end`` with a
    comma before milliseconds, its lines (``[SPEAKER]`` before the first where the speaker
    changes), blank line."""
    blocks = [f"{number}\n{_cue_times(cue, ',')}\n{cue.text}\n"
              for number, cue in enumerate(shape_cues(transcript, limits), start=1)]
    return "\n".join(blocks)


def escape_vtt(text: str) -> str:
    """Escape cue text for WebVTT (W3C WebVTT, 'cue text': &amp; &lt; &gt;; no '-->')."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("--&gt;", "-&#45;&gt;")


def to_vtt(transcript: Transcript, limits: CueLimits = DEFAULT_LIMITS) -> str:
    """WebVTT: the ``WEBVTT`` header, then for each cue (``runner.output.cues.shape_cues``)
    ``start --> end`` with a dot before milliseconds, its lines; the text of a cue with a speaker
    in a voice span, ``<v SPEAKER_00>text</v>`` (instead of srt's ``[SPEAKER_00]`` label)."""
    blocks = ["WEBVTT\n"]
    for cue in shape_cues(transcript, limits):
        text = "\n".join(escape_vtt(line) for line in unlabelled_lines(cue, limits))
        if cue.speaker is not None:
            text = f"<v {escape_vtt(cue.speaker)}>{text}</v>"
        blocks.append(f"{_cue_times(cue, '.')}\n{text}\n")
    return "\n".join(blocks)


def transcript_document(transcript: Transcript, metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: ``metadata`` (job id, model, options, ...) plus language,
    language_probability, duration (s), text and segments (start/end in s, text, words); when
    speakers were diarized, each segment and word has its speaker, and ``speakers`` (in order of
    first appearance) and ``turns`` (start/end in s, speaker) are added."""
    return {
        **metadata,
        "language": transcript.language,
        "language_probability": (
            None if transcript.language_probability is None else round(transcript.language_probability, 4)
        ),
        "duration": round_ms(transcript.duration),
        "text": transcript.text,
        "segments": [segment.to_dict() for segment in transcript.segments],
        **({} if transcript.turns is None else {"speakers": speakers_of(transcript),
                                                "turns": [turn.to_dict() for turn in transcript.turns]}),
    }


def to_json(transcript: Transcript, metadata: dict[str, Any]) -> str:
    """``transcript_document`` as UTF-8 JSON text (non-ASCII kept as is)."""
    return json.dumps(transcript_document(transcript, metadata), ensure_ascii=False, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Transcript, dict[str, Any]], str]] = {
    "txt": lambda transcript, _meta: to_txt(transcript),
    "srt": lambda transcript, meta: to_srt(transcript, CueLimits.from_metadata(meta)),
    "vtt": lambda transcript, meta: to_vtt(transcript, CueLimits.from_metadata(meta)),
    "json": to_json,
    "rttm": to_rttm,
}
"""Format name to renderer ``(transcript, metadata) -> text``. Each renders the times it is given:
``runner.output.writing.write_outputs`` fits the transcript to its audio first
(``runner.output.timing.fit_to_audio``), so outputs never contradict the audio."""
