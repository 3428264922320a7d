"""Our own transcript vocabulary: what the engine produced, independent of faster-whisper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return {"start": round(self.start, 3), "end": round(self.end, 3), "word": self.word,
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
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
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
