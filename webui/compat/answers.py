"""A finished job's transcript as the compat APIs answer it: whisper-asr-webservice's ``txt``,
``srt``, ``vtt``, ``tsv`` and ``json`` outputs, and OpenAI's ``json``, ``text``, ``srt``, ``vtt``,
``verbose_json`` and ``diarized_json`` response formats.

spoolscribe keeps no decoder statistics, so ``verbose_json`` segments carry OpenAI's fields with
neutral values (``tokens`` empty, ``temperature`` 0, ``avg_logprob`` 0, ``compression_ratio`` 1,
``no_speech_prob`` 0); times, text, language and words are the transcript's.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from runner.core.languages import language_name
from runner.core.schema import Job
from runner.core.store import JobStore
from runner.core.transcript import Segment, Transcript, TranscriptFileError, round_ms, to_milliseconds
from runner.output.formats import to_srt, to_txt, to_vtt
from runner.output.speakers import speakers_of
from webui.compat.errors import CompatError
from webui.jobfiles import read_transcript_output

SEEK_PER_SECOND = 100  # Whisper's ``seek`` counts 10 ms frames
_GENERATED_SPEAKER = re.compile(r"SPEAKER_\d+")


def job_transcript(job: Job, store: JobStore) -> Transcript:
    """The transcript of a succeeded job, from its JSON output.

    Raises:
        CompatError: 500, the JSON output no longer exists or cannot be read (deleted by hand, say).
    """
    try:
        transcript = read_transcript_output(job, store)
        if transcript is None:
            raise FileNotFoundError(f"job {job.id} has no JSON output as it was written")
        return transcript
    except (OSError, TranscriptFileError) as exc:
        raise CompatError(500, f"the transcript of job {job.id} cannot be read ({exc}); delete the job "
                               "(spoolscribe delete) and send the request again", kind="server_error") from None


def to_tsv(transcript: Transcript) -> str:
    """whisper's TSV: a ``start\\tend\\ttext`` header, then one line per segment with times in whole
    milliseconds (tabs and line breaks in the text become spaces)."""
    lines = ["start\tend\ttext"]
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        lines.append(f"{to_milliseconds(segment.start)}\t{to_milliseconds(segment.end)}\t{text}")
    return "\n".join(lines) + "\n"


def whisper_json(transcript: Transcript) -> dict[str, Any]:
    """whisper-asr-webservice's ``output=json``: ``text``, ``segments`` and ``language`` (code)."""
    return {"text": transcript.text, "segments": _verbose_segments(transcript), "language": transcript.language}


TEXT_FORMATS: dict[str, Callable[[Transcript], str]] = {"txt": to_txt, "text": to_txt, "srt": to_srt, "vtt": to_vtt,
                                                        "tsv": to_tsv}
"""Renderers of the plain-text formats by name (``txt`` and OpenAI's ``text``, ``srt``, ``vtt``, ``tsv``)."""


def usage(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's duration usage: ``{"type": "duration", "seconds": <audio seconds>}``."""
    return {"type": "duration", "seconds": round_ms(transcript.duration)}


def openai_json(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's ``json``: the text and the usage."""
    return {"text": transcript.text, "usage": usage(transcript)}


def _verbose_segments(transcript: Transcript) -> list[dict[str, Any]]:
    return [{"id": number, "seek": int(segment.start * SEEK_PER_SECOND), "start": round_ms(segment.start),
             "end": round_ms(segment.end), "text": " " + segment.text if segment.text else "", "tokens": [],
             "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
            for number, segment in enumerate(transcript.segments)]


def verbose_json(transcript: Transcript, task: str, words: bool, segments: bool = True) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: ``task``, ``language`` as a lower-case name, ``duration`` (s),
    ``text``, ``segments`` (unless only words were asked for), ``words`` when asked, ``usage``."""
    document: dict[str, Any] = {"task": task, "language": language_name(transcript.language) or "",
                                "duration": round_ms(transcript.duration), "text": transcript.text}
    if segments:
        document["segments"] = _verbose_segments(transcript)
    if words:
        document["words"] = [{"word": word.word.strip(), "start": round_ms(word.start), "end": round_ms(word.end)}
                             for segment in transcript.segments for word in segment.words]
    document["usage"] = usage(transcript)
    return document


def speaker_letters(transcript: Transcript) -> dict[str, str]:
    """OpenAI's speaker names: generated labels (``SPEAKER_00``) become ``A``, ``B``, ... in order of
    first appearance (``AA``, ``AB``, ... after ``Z``); names people gave are kept."""
    letters: dict[str, str] = {}
    for speaker in speakers_of(transcript):
        if _GENERATED_SPEAKER.fullmatch(speaker):
            number, name = len(letters), ""
            while True:
                number, rest = divmod(number, 26)
                name = string.ascii_uppercase[rest] + name
                if not number:
                    break
                number -= 1
            letters[speaker] = name
    return letters


def diarized_segment(segment: Segment, number: int, letters: dict[str, str]) -> dict[str, Any]:
    """One segment of OpenAI's ``diarized_json`` (also the body of a ``transcript.text.segment`` event)."""
    speaker = segment.speaker or "A"
    return {"type": "transcript.text.segment", "id": f"seg_{number}", "start": round_ms(segment.start),
            "end": round_ms(segment.end), "text": segment.text, "speaker": letters.get(speaker, speaker)}


def diarized_json(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's ``diarized_json``: task, duration, text, speaker segments and usage."""
    letters = speaker_letters(transcript)
    return {"task": "transcribe", "duration": round_ms(transcript.duration), "text": transcript.text,
            "segments": [diarized_segment(segment, number, letters)
                         for number, segment in enumerate(transcript.segments)],
            "usage": usage(transcript)}
