"""Subtitle cues people can read, shaped from a transcript's word timestamps for srt and vtt.

Subtitle practice (e.g. the BBC and Netflix timed-text style guides): about 42 characters a line,
at most 2 lines, a cue between about 1 and 7 seconds, and a reading speed ceiling in characters
per second. A segment whose text does not fit is split between words, preferring sentence ends,
then clause boundaries (comma, semicolon, colon), then the word boundary nearest the middle; lines
wrap at word boundaries, balanced. A cue is then lengthened, into the gap before the next cue only,
to at least ``MIN_CUE_SECONDS`` and to the time its characters need at the reading speed.

Cues never cross segments, so a speaker change always starts a new cue, whose first line begins
with the speaker's name, ``[Ana] ``, counted in the line's length. Segments without word
timestamps are split by characters, their words' times taken in proportion (``shaping_warning``).
A word longer than a line stays whole, alone on its line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from runner.core.options import JobOptions
from runner.core.transcript import Segment, Transcript, round_ms

MIN_CUE_SECONDS = 1.0
"""Shortest cue wanted, where the gap before the next cue allows (seconds)."""
SENTENCE_ENDS = frozenset(".?!…。？！")
CLAUSE_ENDS = frozenset(",;:、，；：")
_CLAUSE_BONUS, _SENTENCE_BONUS = 0.5, 2.0
"""Split preferences: a sentence end always wins; a clause boundary wins over a word boundary
unless the parts it leaves differ by more than half the characters."""


@dataclass(frozen=True)
class CueLimits:
    """Limits of one cue: characters a line, lines, seconds, characters a second; 0 is no limit."""

    max_line_length: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0
    max_cps: float = 20.0

    @property
    def off(self) -> bool:
        """True when every limit is off: cues are the segments as they are."""
        return not (self.max_line_length or self.max_lines or self.max_cue_seconds or self.max_cps)

    @classmethod
    def from_options(cls, options: JobOptions) -> CueLimits:
        """The limits a job asked for."""
        return cls(options.max_line_length, options.max_lines, options.max_cue_seconds, options.max_cps)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> CueLimits:
        """The limits in the ``options`` of a job's metadata (the JSON output's); the defaults for
        options missing there (jobs from before these options).

        Raises:
            runner.core.options.OptionsError: the stored options are invalid.
        """
        options = metadata.get("options")
        return cls.from_options(JobOptions.from_mapping(options if isinstance(options, Mapping) else {}))


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``start``/``end`` in seconds, its text ``lines``, the ``speaker`` (or None);
    ``labelled`` when the first line starts with ``[speaker] `` (the first cue of a new speaker)."""

    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None
    labelled: bool = False

    @property
    def text(self) -> str:
        """The lines joined by newlines."""
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    end: float


def _timed_words(segment: Segment) -> bool:
    """True when the segment's words spell its text (word timestamps were on, and kept)."""
    return bool(segment.words) and "".join(w.word for w in segment.words).split() == segment.text.split()


def _tokens(segment: Segment) -> list[_Token]:
    """The segment's words (stripped, empty ones left out), with times; without word timestamps
    (or words that do not spell the text), the words of its text with times in proportion to
    their character positions."""
    if _timed_words(segment):  # times as the JSON holds them, so cues rendered again from it are the same
        return [_Token(w.word.strip(), round_ms(w.start), round_ms(w.end)) for w in segment.words if w.word.strip()]
    pieces = segment.text.split()
    total = max(1, sum(len(p) for p in pieces))
    begin = round_ms(segment.start)
    span = max(0.0, round_ms(segment.end) - begin)
    tokens, done = [], 0
    for piece in pieces:
        start = begin + span * done / total
        done += len(piece)
        tokens.append(_Token(piece, start, begin + span * done / total))
    return tokens


def _greedy(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def wrap(words: list[str], max_line_length: int) -> list[str]:
    """``words`` as the fewest lines of at most ``max_line_length`` characters (0: one line),
    balanced: the narrowest width that needs no more lines. A longer word is a line of its own."""
    if not max_line_length or not words:
        return [" ".join(words)] if words else []
    fewest = len(_greedy(words, max_line_length))
    low = max(len(word) for word in words)
    if low >= max_line_length:
        return _greedy(words, max_line_length)
    high = max_line_length
    while low < high:  # the narrowest width that still gives `fewest` lines
        middle = (low + high) // 2
        if len(_greedy(words, middle)) <= fewest:
            high = middle
        else:
            low = middle + 1
    return _greedy(words, low)


def _fits(tokens: list[_Token], limits: CueLimits) -> bool:
    if len(tokens) == 1:
        return True
    if limits.max_cue_seconds and tokens[-1].end - tokens[0].start > limits.max_cue_seconds:
        return False
    if not limits.max_line_length:
        return True
    lines = wrap([t.text for t in tokens], limits.max_line_length)
    too_long = any(len(line) > limits.max_line_length for line in lines)
    return not too_long and (not limits.max_lines or len(lines) <= limits.max_lines)


def _split_at(tokens: list[_Token]) -> int:
    """The index to split ``tokens`` (2 or more) before: the best boundary by preference and balance."""
    lengths = [len(t.text) + 1 for t in tokens]
    total, best, best_score, left = sum(lengths), 1, float("-inf"), 0
    for index in range(1, len(tokens)):
        left += lengths[index - 1]
        last = tokens[index - 1].text[-1]
        bonus = _SENTENCE_BONUS if last in SENTENCE_ENDS else _CLAUSE_BONUS if last in CLAUSE_ENDS else 0.0
        score = bonus - abs(2 * left - total) / total
        if score > best_score:
            best, best_score = index, score
    return best


def _chunks(tokens: list[_Token], limits: CueLimits) -> list[list[_Token]]:
    if _fits(tokens, limits):
        return [tokens]
    index = _split_at(tokens)
    return _chunks(tokens[:index], limits) + _chunks(tokens[index:], limits)


def _segment_cues(segment: Segment, limits: CueLimits, labelled: bool) -> list[Cue]:
    """The cues of one segment; with ``labelled``, the speaker's label joined to its first word
    (so that it is wrapped and counted with it, never left alone)."""
    tokens = _tokens(segment)
    if not tokens:
        return []
    if labelled:
        tokens[0] = _Token(f"[{segment.speaker}] {tokens[0].text}", tokens[0].start, tokens[0].end)
    return [Cue(chunk[0].start, max(chunk[0].start, chunk[-1].end),
                tuple(wrap([t.text for t in chunk], limits.max_line_length)), segment.speaker, labelled and index == 0)
            for index, chunk in enumerate(_chunks(tokens, limits))]


def unlabelled_lines(cue: Cue, limits: CueLimits) -> tuple[str, ...]:
    """The lines of ``cue`` without the speaker's label (for formats that mark speakers otherwise,
    such as WebVTT's voice spans), wrapped again within ``limits`` when they were shaped."""
    if not cue.labelled or not cue.lines:
        return cue.lines
    first = cue.lines[0].removeprefix(f"[{cue.speaker}]").lstrip(" ")
    lines = (first, *cue.lines[1:]) if first else cue.lines[1:]
    return lines if limits.off else tuple(wrap(" ".join(lines).split(), limits.max_line_length))


def _timed(cues: list[Cue], limits: CueLimits, duration: float) -> list[Cue]:
    """Cues without overlaps, each lengthened into the gap before the next to at least
    ``MIN_CUE_SECONDS`` and to its reading time at ``max_cps`` (but not past ``max_cue_seconds``,
    nor the last one past the audio's ``duration`` in seconds)."""
    timed = []
    for index, cue in enumerate(cues):
        following = cues[index + 1].start if index + 1 < len(cues) else duration
        wanted = max(cue.end, cue.start + MIN_CUE_SECONDS)
        if limits.max_cps:
            wanted = max(wanted, cue.start + len(cue.text.replace("\n", " ")) / limits.max_cps)
        if limits.max_cue_seconds:
            wanted = min(wanted, max(cue.end, cue.start + limits.max_cue_seconds))
        end = max(cue.start, min(wanted, following))
        timed.append(dataclasses.replace(cue, end=end))
    return timed


def shape_cues(transcript: Transcript, limits: CueLimits) -> list[Cue]:
    """The subtitle cues of ``transcript`` in time order, within ``limits`` (see the module's
    description); with every limit off, one cue per segment with its text as it is. Segments with
    empty text give no cue. For a transcript fitted to its audio (``runner.output.timing``, as
    ``runner.output.writing.write_outputs`` renders), no cue ends past the audio or overlaps the next."""
    if limits.off:
        return [Cue(s.start, max(s.start, s.end), _labelled_lines(s, labelled), s.speaker, labelled)
                for s, labelled in _segments(transcript)]
    cues = sorted((cue for segment, labelled in _segments(transcript)
                   for cue in _segment_cues(segment, limits, labelled)), key=lambda c: c.start)
    return _timed(cues, limits, transcript.duration)


def _segments(transcript: Transcript) -> Iterator[tuple[Segment, bool]]:
    """The segments with text in time order, each with whether its speaker differs from the one before."""
    previous = None
    for segment in sorted((s for s in transcript.segments if s.text.strip()), key=lambda s: s.start):
        yield segment, segment.speaker is not None and segment.speaker != previous
        previous = segment.speaker


def _labelled_lines(segment: Segment, labelled: bool) -> tuple[str, ...]:
    lines = [line for line in segment.text.splitlines() if line.strip()]
    if labelled:
        lines[0] = f"[{segment.speaker}] {lines[0]}"
    return tuple(lines)


def shaping_warning(transcript: Transcript, limits: CueLimits) -> str | None:
    """A warning for the job when cues were split without word timestamps, else None."""
    if limits.off or not any(s.text.strip() and not _timed_words(s) for s in transcript.segments):
        return None
    return ("subtitle cues were split by characters (no word timestamps): their times are estimated; "
            "turn word_timestamps on for cues that follow the speech")
