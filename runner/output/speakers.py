"""Who spoke each word: speaker turns (from diarization) matched to the recognised words.

Pure Python on ``runner.core.transcript`` dataclasses, no torch: the web imports it to rename speakers.

Rules: a word belongs to the turn it overlaps most (the exclusive, non-overlapping turns when the
pipeline gives them); a word that overlaps no turn belongs to the nearest one (the earlier on a
tie). A segment whose words change speaker is split there. Labels are ``SPEAKER_00``,
``SPEAKER_01``, ... in order of first appearance in the words, then in the turns.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence

from runner.core.errors import SpoolscribeError
from runner.core.transcript import Segment, Transcript, Turn, Word

LABEL = "SPEAKER_{:02d}"
MAX_NAME_CHARS = 80
POINT = 1e-6
"""Seconds a word of no duration is taken to last, so that it lies inside the turn around it."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SpeakerNameError(SpoolscribeError, ValueError):
    """A speaker name that cannot be used; the message says which and why."""


class _Turns:
    """Turns indexed for the two questions asked per word, each in O(log n + k)."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.by_start = sorted(turns, key=lambda turn: (turn.start, turn.end))
        self.starts = [turn.start for turn in self.by_start]
        self.by_end = sorted(turns, key=lambda turn: (turn.end, turn.start))
        self.ends = [turn.end for turn in self.by_end]
        self.longest = max((turn.end - turn.start for turn in turns), default=0.0)

    def speaker_of(self, start: float, end: float) -> str | None:
        """The speaker of the span ``start``..``end`` (seconds): the turn it overlaps most (the
        earlier turn on a tie), else the nearest turn; None when there are no turns."""
        if not self.by_start:
            return None
        end = max(end, start + POINT)
        first = bisect.bisect_left(self.starts, start - self.longest)  # earlier turns end before ``start``
        last = bisect.bisect_left(self.starts, end)  # later turns start at or after ``end``
        overlaps = [(min(end, turn.end) - max(start, turn.start), -turn.start, turn)
                    for turn in self.by_start[first:last]]
        overlaps = [item for item in overlaps if item[0] > 0]
        if overlaps:
            return max(overlaps, key=lambda item: item[:2])[2].speaker
        before = bisect.bisect_right(self.ends, start)
        candidates = [self.by_end[before - 1]] if before else []
        after = bisect.bisect_left(self.starts, end)
        candidates += [self.by_start[after]] if after < len(self.by_start) else []
        return min(candidates, key=lambda turn: (max(turn.start - end, start - turn.end, 0.0), turn.start)).speaker


def assign_speakers(transcript: Transcript, turns: Sequence[Turn],
                    exclusive: Sequence[Turn] | None = None) -> Transcript:
    """``transcript`` with a speaker on every word and segment, segments split where the speaker
    changes, and ``turns`` (all of them, overlapping ones included) kept on it; every label renamed
    to ``SPEAKER_NN`` in order of first appearance.

    ``exclusive`` (non-overlapping turns, as pyannote's ``exclusive_speaker_diarization``) is used
    for the assignment when given, else ``turns``. With no turns at all (no speech found) the
    segments are left without speakers and ``turns`` is empty. Times are seconds.
    """
    index = _Turns(exclusive if exclusive else turns)
    segments: list[Segment] = []
    for segment in transcript.segments:
        segments.extend(_split(segment, index))
    labels = _first_appearance(segments, turns)
    renamed = rename_transcript(dataclasses.replace(transcript, segments=tuple(segments), turns=tuple(turns)), labels)
    ordered = sorted(renamed.turns or (), key=lambda turn: (turn.start, turn.end, turn.speaker))
    return dataclasses.replace(renamed, turns=tuple(ordered))


def _split(segment: Segment, index: _Turns) -> list[Segment]:
    """The segment as one piece per run of same-speaker words (one piece if it has no words)."""
    if not segment.words:
        return [dataclasses.replace(segment, speaker=index.speaker_of(segment.start, segment.end))]
    words = [dataclasses.replace(word, speaker=index.speaker_of(word.start, word.end)) for word in segment.words]
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [dataclasses.replace(segment, words=tuple(words), speaker=words[0].speaker)]
    pieces = []
    for number, run in enumerate(runs):
        start = segment.start if number == 0 else run[0].start
        end = segment.end if number == len(runs) - 1 else run[-1].end
        text = "".join(word.word for word in run).strip()
        pieces.append(dataclasses.replace(segment, start=start, end=max(start, end), text=text, words=tuple(run),
                                          speaker=run[0].speaker))
    return pieces


def _first_appearance(segments: Iterable[Segment], turns: Iterable[Turn]) -> dict[str, str]:
    """``{pipeline label: SPEAKER_NN}`` numbered by first appearance in the words, then the turns."""
    order: dict[str, None] = {}
    for segment in segments:
        for speaker in [word.speaker for word in segment.words] or [segment.speaker]:
            if speaker is not None:
                order.setdefault(speaker)
    for turn in sorted(turns, key=lambda turn: (turn.start, turn.end)):
        order.setdefault(turn.speaker)
    return {speaker: LABEL.format(number) for number, speaker in enumerate(order)}


def speakers_of(transcript: Transcript) -> list[str]:
    """The speakers of a transcript in order of first appearance (segments first, then turns)."""
    return list(_first_appearance(transcript.segments, transcript.turns or ()))


def rename_transcript(transcript: Transcript, names: Mapping[str, str]) -> Transcript:
    """``transcript`` with every speaker ``old`` in ``names`` renamed to ``names[old]`` (in words,
    segments and turns); speakers not in ``names`` keep their label. Two speakers given the same
    name become one."""

    def new(speaker: str | None) -> str | None:
        return None if speaker is None else names.get(speaker, speaker)

    segments = tuple(
        dataclasses.replace(segment, speaker=new(segment.speaker),
                            words=tuple(dataclasses.replace(word, speaker=new(word.speaker)) for word in segment.words))
        for segment in transcript.segments)
    turns = None if transcript.turns is None else tuple(
        dataclasses.replace(turn, speaker=names.get(turn.speaker, turn.speaker)) for turn in transcript.turns)
    return dataclasses.replace(transcript, segments=segments, turns=turns)


def clean_names(names: Mapping[str, str], known: Iterable[str]) -> dict[str, str]:
    """Validate a rename: ``{current speaker: new name}``, names stripped; empty or unchanged
    entries are dropped.

    Raises:
        SpeakerNameError: a speaker that is not in ``known``, or a name with control characters
            or longer than ``MAX_NAME_CHARS``.
    """
    known = set(known)
    cleaned = {}
    for speaker, name in names.items():
        if speaker not in known:
            raise SpeakerNameError(f"there is no speaker {speaker!r} in this transcript")
        name = " ".join(str(name).split())
        if _CONTROL.search(name):
            raise SpeakerNameError(f"the name for {speaker} contains control characters")
        if len(name) > MAX_NAME_CHARS:
            raise SpeakerNameError(f"the name for {speaker} is longer than {MAX_NAME_CHARS} characters")
        if name and name != speaker:
            cleaned[speaker] = name
    return cleaned
