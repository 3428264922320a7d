"""Our own transcript vocabulary: what the engine produced, independent of faster-whisper."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def to_milliseconds(seconds: float) -> int:
    """Whole milliseconds, rounded half up from the decimal value (59.9995 s gives 60000).

    Every time written anywhere goes through this, so JSON, SRT and WebVTT always agree.
    """
    return int((Decimal(repr(max(0.0, float(seconds)))) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def round_ms(seconds: float) -> float:
    """``seconds`` rounded to milliseconds as ``to_milliseconds`` does."""
    return to_milliseconds(seconds) / 1000


@dataclass(frozen=True)
class Word:
    """One recognised word: ``start``/``end`` in seconds from the start of the audio,
    ``word`` with its leading space as Whisper emits it, ``probability`` in 0..1."""

    start: float
    end: float
    word: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "word", "probability"}`` with times rounded to milliseconds."""
        return {"start": round_ms(self.start), "end": round_ms(self.end), "word": self.word,
                "probability": round(self.probability, 4)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Word:
        """Inverse of ``to_dict``."""
        return cls(float(data["start"]), float(data["end"]), str(data["word"]), float(data["probability"]))


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: times in seconds, ``text`` stripped of surrounding spaces, its words."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "text", "words": [...]}`` with times rounded to milliseconds."""
        return {"start": round_ms(self.start), "end": round_ms(self.end), "text": self.text,
                "words": [word.to_dict() for word in self.words]}


@dataclass(frozen=True)
class Transcript:
    """A whole job's result: the language (ISO 639-1 code) and its probability, the audio
    duration in seconds, and the segments in time order."""

    language: str | None
    language_probability: float | None
    duration: float
    segments: tuple[Segment, ...] = field(default=())

    @property
    def text(self) -> str:
        """Every segment's text, one per line."""
        return "\n".join(segment.text for segment in self.segments if segment.text)
