"""Possible decoding loops: Whisper sometimes writes the same text over and over (a "hallucination
loop"), most often over music, noise or a language it was not told about.

Pure logic on ``runner.core.transcript`` segments. Three signs, any is enough:

- the same text (case, spacing and punctuation aside) in ``MIN_REPEATS`` or more segments in a row
  of one speaker;
- a phrase of ``MIN_PHRASE_WORDS`` to ``MAX_PHRASE_WORDS`` words said ``MIN_REPEATS`` or more times in
  a row by one speaker, inside a segment or across segments ("turn left turn left turn left");
- a segment whose text compresses too well: its gzip compression ratio (UTF-8 bytes over
  zlib-compressed bytes, as faster-whisper's ``get_compression_ratio``) above
  ``COMPRESSION_RATIO_THRESHOLD``, faster-whisper's default ``compression_ratio_threshold``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import zlib
from collections.abc import Sequence

from runner.core.transcript import Segment, Transcript, clock

MIN_REPEATS = 3
"""Segments, or phrases, in a row with the same text that make a possible loop."""
MIN_PHRASE_WORDS = 2
"""Shortest repeated phrase, in words ("no, no, no" is speech, "thank you thank you thank you" a loop)."""
MAX_PHRASE_WORDS = 40
"""Longest repeated phrase looked for, in words (longer repeats are whole segments, found as such)."""
COMPRESSION_RATIO_THRESHOLD = 2.4
"""faster-whisper's default ``compression_ratio_threshold`` (``WhisperModel.transcribe``)."""
_NOT_WORD = re.compile(r"[\W_]+")


def compression_ratio(text: str) -> float:
    """The gzip compression ratio of ``text``: its UTF-8 length over its zlib-compressed length
    (faster-whisper's ``get_compression_ratio``); 0.0 for empty text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _key(text: str) -> str:
    return _NOT_WORD.sub(" ", text.casefold()).strip()


def loop_spans(segments: Sequence[Segment]) -> list[tuple[int, int]]:
    """The possible loops in ``segments`` (in time order) as ``(first, last)`` segment indexes,
    inclusive, in order, overlapping or touching spans joined.

    A run counts segments of the same speaker only (separate channels interleave in time); a
    segment with no text is never part of one.
    """
    flagged: set[int] = set()
    keys = [_key(segment.text) for segment in segments]
    by_speaker: dict[str | None, list[int]] = {}
    for index, segment in enumerate(segments):
        if keys[index]:
            by_speaker.setdefault(segment.speaker, []).append(index)
        if compression_ratio(segment.text) > COMPRESSION_RATIO_THRESHOLD:
            flagged.add(index)
    for indexes in by_speaker.values():
        for _key_text, same in itertools.groupby(indexes, key=keys.__getitem__):
            run = list(same)
            if len(run) >= MIN_REPEATS:
                flagged.update(run)
        words = [(word, index) for index in indexes for word in keys[index].split()]
        for first, last in _repeated_phrases([word for word, _index in words]):
            flagged.update(range(words[first][1], words[last][1] + 1))
    spans: list[tuple[int, int]] = []
    for index in sorted(flagged):
        if spans and index == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], index)
        else:
            spans.append((index, index))
    return spans


def _repeated_phrases(words: Sequence[str]) -> list[tuple[int, int]]:
    """``(first, last)`` word indexes, inclusive, of every stretch where a phrase of
    ``MIN_PHRASE_WORDS`` to ``MAX_PHRASE_WORDS`` words comes ``MIN_REPEATS`` or more times in a row.

    A phrase of ``k`` words repeats from word ``i`` while ``words[i] == words[i + k]``: a streak of
    ``(MIN_REPEATS - 1) * k`` such words is ``MIN_REPEATS`` repeats. A phrase of one word said over
    and over ("no no no no no no") is not counted. O(n x MAX_PHRASE_WORDS).
    """
    stretches = []
    for k in range(MIN_PHRASE_WORDS, MAX_PHRASE_WORDS + 1):
        streak = 0
        for i in range(len(words) - k + 1):
            streak = streak + 1 if i + k < len(words) and words[i] == words[i + k] else 0
            if streak >= (MIN_REPEATS - 1) * k and (i + k + 1 >= len(words) or words[i + 1] != words[i + 1 + k]):
                first = i - streak + 1  # the streak ends here
                if len(set(words[first:first + k])) > 1:  # one word over and over is not a phrase
                    stretches.append((first, i + k))
    return stretches


def mark_repetitions(transcript: Transcript) -> tuple[Transcript, str | None]:
    """``transcript`` with ``repetition`` set on the segments of every possible loop (and cleared on
    the others), and a warning naming their times (``"possible repetition at 1:23:10–1:24:05"``;
    several spans separated by commas), or None when there is none."""
    spans = loop_spans(transcript.segments)
    marked = {index for first, last in spans for index in range(first, last + 1)}
    segments = tuple(dataclasses.replace(segment, repetition=index in marked)
                     for index, segment in enumerate(transcript.segments))
    if not spans:
        return dataclasses.replace(transcript, segments=segments), None
    stretches: list[tuple[float, float]] = []
    for first, last in spans:  # spans of interleaved channels may overlap in time: one stretch then
        start, end = segments[first].start, max(segment.end for segment in segments[first:last + 1])
        if stretches and start <= stretches[-1][1]:
            stretches[-1] = (stretches[-1][0], max(end, stretches[-1][1]))
        else:
            stretches.append((start, end))
    times = ", ".join(f"{clock(start)}–{clock(end)}" for start, end in stretches)
    warning = (f"possible repetition at {times}: the model may have written the same words over and over "
               "(a decoding loop); check the recording there")
    return dataclasses.replace(transcript, segments=segments), warning
