"""Our own transcript vocabulary: what the engine produced, independent of faster-whisper; and
the one reader of a job's JSON output (``read_transcript``), the inverse of
``runner.output.formats.transcript_document``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

DOCUMENT_KEYS = frozenset({"language", "language_probability", "duration", "text", "segments", "speakers", "turns"})
"""The keys of a JSON transcript that hold the transcript; every other key is the job's metadata
(job id, file, model, options, ...)."""


class TranscriptFileError(ValueError):
    """A file or document that is not a spoolscribe JSON transcript; the message says what is wrong."""


def to_milliseconds(seconds: float) -> int:
    """Whole milliseconds, rounded half up from the decimal value (59.9995 s gives 60000).

    Every time written anywhere goes through this, so JSON, SRT and WebVTT always agree.
    """
    return int((Decimal(repr(max(0.0, float(seconds)))) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def round_ms(seconds: float) -> float:
    """``seconds`` rounded to milliseconds as ``to_milliseconds`` does."""
    return to_milliseconds(seconds) / 1000


def clock(seconds: float | None) -> str:
    """A time as people read it: ``83.4`` -> ``"1:23"``, ``3723`` -> ``"1:02:03"``; None -> ``"–"``."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _with_speaker(data: dict[str, Any], speaker: str | None) -> dict[str, Any]:
    """``data`` plus ``"speaker"`` when there is one (output without speakers stays as it was)."""
    return data if speaker is None else {**data, "speaker": speaker}


@dataclass(frozen=True)
class Word:
    """One recognised word: ``start``/``end`` in seconds from the start of the audio,
    ``word`` with its leading space as Whisper emits it, ``probability`` in 0..1, and the
    ``speaker`` label (``SPEAKER_00`` or a name given later) once speakers are assigned."""

    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "word", "probability"}`` (and ``"speaker"`` if set), times rounded
        to milliseconds."""
        return _with_speaker({"start": round_ms(self.start), "end": round_ms(self.end), "word": self.word,
                              "probability": round(self.probability, 4)}, self.speaker)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Word:
        """Inverse of ``to_dict``."""
        return cls(float(data["start"]), float(data["end"]), str(data["word"]), float(data["probability"]),
                   _speaker_of(data))


def _speaker_of(data: dict[str, Any]) -> str | None:
    speaker = data.get("speaker")
    return None if speaker is None else str(speaker)


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: times in seconds, ``text`` stripped of surrounding spaces, its words,
    and its ``speaker`` once speakers are assigned (every word of the segment then has it too).
    ``language`` is the segment's own detected language (ISO 639-1) when every segment's language
    is detected (``language = multi``), else None; ``repetition`` marks a segment of a possible
    decoding loop (``runner.output.repetition``)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    language: str | None = None
    repetition: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "text", "words": [...]}`` (and ``"speaker"``, ``"language"`` if set,
        ``"repetition": true`` if marked), times rounded to milliseconds."""
        data: dict[str, Any] = _with_speaker({"start": round_ms(self.start), "end": round_ms(self.end),
                                              "text": self.text}, self.speaker)
        data.update({"language": self.language} if self.language is not None else {})
        data.update({"repetition": True} if self.repetition else {})
        return {**data, "words": [word.to_dict() for word in self.words]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        """Inverse of ``to_dict``."""
        language = data.get("language")
        return cls(float(data["start"]), float(data["end"]), str(data["text"]),
                   tuple(Word.from_dict(word) for word in data.get("words", ())), _speaker_of(data),
                   None if language is None else str(language), bool(data.get("repetition", False)))


@dataclass(frozen=True)
class Turn:
    """A speaker turn from diarization: ``start``/``end`` in seconds, the ``speaker`` label."""

    start: float
    end: float
    speaker: str

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "speaker"}`` with times rounded to milliseconds."""
        return {"start": round_ms(self.start), "end": round_ms(self.end), "speaker": self.speaker}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        """Inverse of ``to_dict``."""
        return cls(float(data["start"]), float(data["end"]), str(data["speaker"]))


@dataclass(frozen=True)
class Transcript:
    """A whole job's result: the language (ISO 639-1 code) and its probability, the audio
    duration in seconds, and the segments in time order. ``turns`` is None unless speakers were
    diarized; then it holds the speaker turns in time order (they may overlap; empty when the
    pipeline found no speech)."""

    language: str | None
    language_probability: float | None
    duration: float
    segments: tuple[Segment, ...] = field(default=())
    turns: tuple[Turn, ...] | None = None

    def shifted(self, offset: float) -> Transcript:
        """The transcript on the media's timeline: every segment, word and turn time (and the
        duration) plus ``offset`` seconds, where the audio starts after the video (``jobs.audio``).
        Applied once, to the transcript every writer gets (``runner.daemon.perform``)."""
        if not offset:
            return self

        def word(w: Word) -> Word:
            return dataclasses.replace(w, start=w.start + offset, end=w.end + offset)

        segments = tuple(dataclasses.replace(s, start=s.start + offset, end=s.end + offset,
                                             words=tuple(map(word, s.words))) for s in self.segments)
        turns = None if self.turns is None else tuple(
            dataclasses.replace(t, start=t.start + offset, end=t.end + offset) for t in self.turns)
        return dataclasses.replace(self, duration=self.duration + offset, segments=segments, turns=turns)

    @property
    def text(self) -> str:
        """Every segment's text, one per line."""
        return "\n".join(segment.text for segment in self.segments if segment.text)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Transcript:
        """Inverse of ``runner.output.formats.transcript_document``: the transcript of a parsed JSON
        output (its ``text`` and ``speakers`` are derived, so they are not read; ``turns`` absent
        means the job was not diarized).

        Raises:
            TranscriptFileError: a field is missing or has the wrong type.
        """
        try:
            language, probability, turns = document["language"], document["language_probability"], document.get("turns")
            if not (language is None or isinstance(language, str)):
                raise TypeError(f"language is {language!r}, not a language code")
            return cls(language, None if probability is None else float(probability), float(document["duration"]),
                       tuple(Segment.from_dict(segment) for segment in document["segments"]),
                       None if turns is None else tuple(Turn.from_dict(turn) for turn in turns))
        except KeyError as exc:
            raise TranscriptFileError(f"the field {exc} is missing") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise TranscriptFileError(f"a field has the wrong type ({exc})") from None


def read_transcript(path: Path) -> tuple[Transcript, dict[str, Any]]:
    """The transcript in the JSON output at ``path``, and the job's metadata written with it
    (every key outside ``DOCUMENT_KEYS``: job id, file, model, options, ...).

    Raises:
        OSError: the file cannot be read.
        TranscriptFileError: it is not UTF-8 JSON text of a spoolscribe transcript (the message
            names the file and what is wrong).
    """
    return parse_transcript(path.read_bytes(), path.name)


def parse_transcript(data: bytes, name: str) -> tuple[Transcript, dict[str, Any]]:
    """The transcript and the job's metadata in ``data``, the bytes of a JSON output named ``name``
    (for messages), as ``read_transcript`` reads them from a file.

    Raises:
        TranscriptFileError: not UTF-8 JSON text of a spoolscribe transcript.
    """
    try:
        document = json.loads(data.decode("utf-8"))
        if not isinstance(document, dict):
            raise TranscriptFileError(f"it holds a JSON {type(document).__name__}, not an object")
        return Transcript.from_document(document), {k: v for k, v in document.items() if k not in DOCUMENT_KEYS}
    except ValueError as exc:  # UnicodeDecodeError, json.JSONDecodeError, TranscriptFileError
        raise TranscriptFileError(f"{name} is not a spoolscribe JSON transcript: {exc} "
                                  "(submit the recording again for a new one)") from None
