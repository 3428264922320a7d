"""Separate channels (``channels = separate``): each channel of a recording transcribed on its own,
its segments labelled as a speaker, and the channels' segments merged by time.

Pure logic on ``runner.core.transcript`` dataclasses: the segments of each channel arrive lazily and
in time order (from the recognizer), and come out merged, lazily, in order of their start, so a job
checkpoints them as they come and its progress follows the recording's time in every channel.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Iterator, Sequence

from runner.core.transcript import Segment, Transcript, Turn

LABEL = "channel {}"
"""A channel's speaker label, numbered from 1 (renamable like diarized speakers)."""


def channel_label(index: int) -> str:
    """The speaker label of the channel ``index`` (from 0): ``"channel 1"`` for 0."""
    return LABEL.format(index + 1)


def channel_index(label: str | None) -> int | None:
    """Inverse of ``channel_label``: the index (from 0), or None for a label that is not a channel's."""
    prefix = LABEL.format("")
    if label is None or not label.startswith(prefix) or not label[len(prefix):].isdigit():
        return None
    return int(label[len(prefix):]) - 1


def labelled(segments: Iterable[Segment], speaker: str) -> Iterator[Segment]:
    """``segments`` with ``speaker`` on each of them and on each of their words, lazily."""
    for segment in segments:
        yield dataclasses.replace(segment, speaker=speaker,
                                  words=tuple(dataclasses.replace(word, speaker=speaker) for word in segment.words))


def merge_by_time(channels: Sequence[Iterable[Segment]]) -> Iterator[Segment]:
    """The segments of every channel (each in time order, already labelled), merged lazily in order
    of start time (then end, then channel). Each channel is read one segment ahead of what is given out."""
    return heapq.merge(*channels, key=lambda segment: (segment.start, segment.end))


def with_channel_turns(transcript: Transcript) -> Transcript:
    """``transcript`` (segments labelled by channel) with a speaker turn per segment, so that its
    outputs show and list the channels as speakers exactly as they do diarized speakers (the json's
    ``speakers`` and ``turns``, the rttm output). Segments are put in time order."""
    segments = tuple(sorted(transcript.segments, key=lambda segment: (segment.start, segment.end)))
    turns = tuple(Turn(segment.start, segment.end, segment.speaker) for segment in segments
                  if segment.speaker is not None)
    return dataclasses.replace(transcript, segments=segments, turns=turns)
