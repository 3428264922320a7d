"""Times that never contradict the audio: the one normalisation every output is rendered from.

A recognizer can give times the audio cannot have: Whisper pads its input to 30 s windows, so a
0.3 s clip can get a segment ending at 0.5 s, and a segment at the end of a file can end past it;
a JSON transcript edited or written by an older version can hold anything. ``fit_to_audio``
returns a transcript where, in whole milliseconds (what every format writes, ``to_milliseconds``):

- every segment, word and speaker turn lies within [0, duration] and ends at or after its start
  (an end before its start is moved to the start; times outside the audio are moved to its edge);
- segments are in time order and each ends at or before the next one starts (an overlapping
  segment is cut where the next starts), so subtitle cues made from them are in order and never
  overlap (``runner.output.cues``);
- each segment's words lie within it, in time order, each ending at or before the next starts;
- speaker turns are in time order (they may overlap: people talk over each other).

Nothing is dropped: text, speakers and probabilities are kept; only times move. What had to move
is counted, and said in one warning for the job (``Fitted.warning``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from runner.core.transcript import Segment, Transcript, Turn, Word, to_milliseconds

_Timed = TypeVar("_Timed", Segment, Word, Turn)

_BEFORE_ZERO, _PAST_END, _REVERSED, _UNORDERED, _OVERLAPPING, _OUTSIDE = range(6)
_SAID = {
    _BEFORE_ZERO: ("{n} {noun} starting before 0 s was moved to start at 0 s",
                   "{n} {noun}s starting before 0 s were moved to start at 0 s"),
    _PAST_END: ("{n} {noun} ending after the audio's end ({end} s) was cut there",
                "{n} {noun}s ending after the audio's end ({end} s) were cut there"),
    _REVERSED: ("{n} {noun} ending before its start now ends at its start",
                "{n} {noun}s ending before their start now end at their start"),
    _UNORDERED: ("{n} {noun} out of time order was put in order",
                 "{n} {noun}s out of time order were put in order"),
    _OVERLAPPING: ("{n} {noun} overlapping the next was cut where the next starts",
                   "{n} {noun}s overlapping the next were cut where the next starts"),
    _OUTSIDE: ("{n} {noun} outside its segment was moved into it",
               "{n} {noun}s outside their segment were moved into them"),
}
"""What each kind of correction says, singular and plural."""
_NOUNS = ("segment", "word", "speaker turn")
"""The order the corrections of each noun are said in."""


@dataclass(frozen=True)
class Fitted:
    """A transcript fitted to its audio (``fit_to_audio``) and what had to be corrected: one
    sentence per kind of correction, such as ``"3 segments ending after the audio's end (12.0 s)
    were cut there"``; empty when the transcript already fitted."""

    transcript: Transcript
    corrections: tuple[str, ...]

    @property
    def warning(self) -> str | None:
        """The job's warning saying what was corrected, or None when nothing was."""
        if not self.corrections:
            return None
        return "times corrected to fit the audio: " + "; ".join(self.corrections)


def _ms(seconds: float) -> int:
    """Signed whole milliseconds, rounded as ``to_milliseconds`` rounds."""
    return to_milliseconds(seconds) if seconds >= 0 else -to_milliseconds(-seconds)


def _seconds_text(ms: int) -> str:
    """``12.0`` for 12000 ms, ``0.35`` for 350 ms: tenths, or the milliseconds when they matter."""
    return f"{ms / 1000:.1f}" if ms % 100 == 0 else f"{ms / 1000:.3f}".rstrip("0")


class _Fitter:
    """Counts corrections by (noun, kind) while fitting spans of one transcript."""

    def __init__(self, duration_ms: int) -> None:
        self.end = max(0, duration_ms)
        self.counts: Counter[tuple[str, int]] = Counter()

    def span(self, noun: str, start: float, end: float, low: int | None = None,
             high: int | None = None) -> tuple[int, int]:
        """``(start, end)`` in ms, end at or after start, within [0, duration], then within
        [``low``, ``high``] (a word's segment) when given; each correction counted once."""
        first, last = _ms(start), _ms(end)
        if last < first:
            self._count(noun, _REVERSED)
            last = first
        if first < 0:
            self._count(noun, _BEFORE_ZERO)
        if last > self.end:
            self._count(noun, _PAST_END)
        first, last = min(max(first, 0), self.end), min(max(last, 0), self.end)
        if low is not None and high is not None and (first < low or last > high):
            self._count(noun, _OUTSIDE)
            first, last = min(max(first, low), high), min(max(last, low), high)
        return first, last

    def ordered(self, noun: str, items: Sequence[tuple[int, int, _Timed]],
                apart: bool) -> list[tuple[int, int, _Timed]]:
        """``items`` (start ms, end ms, item) sorted by start (stable); with ``apart``, each cut to end
        where the next starts."""
        latest = None
        for start, _end, _item in items:
            if latest is not None and start < latest:
                self._count(noun, _UNORDERED)
            latest = start if latest is None else max(latest, start)
        result = sorted(items, key=lambda entry: entry[0])
        if apart:
            for index in range(len(result) - 1):
                start, end, item = result[index]
                following = result[index + 1][0]
                if end > following:
                    self._count(noun, _OVERLAPPING)
                    result[index] = (start, following, item)
        return result

    def _count(self, noun: str, kind: int) -> None:
        self.counts[noun, kind] += 1

    def corrections(self) -> tuple[str, ...]:
        """One sentence per kind of correction counted, by noun, then by kind."""
        said = []
        for noun in _NOUNS:
            for kind, (one, many) in _SAID.items():
                count = self.counts[noun, kind]
                if count:
                    said.append((one if count == 1 else many).format(n=count, noun=noun,
                                                                     end=_seconds_text(self.end)))
        return tuple(said)


def _timed(item: _Timed, start: int, end: int) -> _Timed:
    return dataclasses.replace(item, start=start / 1000, end=end / 1000)


def _fit_words(fitter: _Fitter, words: Sequence[Word], low: int, high: int) -> tuple[Word, ...]:
    spans = [(*fitter.span("word", w.start, w.end, low, high), w) for w in words]
    return tuple(_timed(word, start, end) for start, end, word in fitter.ordered("word", spans, apart=True))


def fit_to_audio(transcript: Transcript) -> Fitted:
    """``transcript`` with every time within its audio and in order (see the module's description),
    segment, word and turn times in whole milliseconds (its duration as it was), and the
    corrections made. Idempotent: a fitted transcript fits as it is, with no corrections."""
    fitter = _Fitter(to_milliseconds(transcript.duration))
    spans = [(*fitter.span("segment", s.start, s.end), s) for s in transcript.segments]
    segments = tuple(dataclasses.replace(_timed(segment, start, end),
                                         words=_fit_words(fitter, segment.words, start, end))
                     for start, end, segment in fitter.ordered("segment", spans, apart=True))
    turns = None
    if transcript.turns is not None:
        turn_spans = [(*fitter.span("speaker turn", t.start, t.end), t) for t in transcript.turns]
        turns = tuple(_timed(turn, start, end) for start, end, turn in fitter.ordered("speaker turn", turn_spans,
                                                                                       apart=False))
    return Fitted(dataclasses.replace(transcript, segments=segments, turns=turns), fitter.corrections())
