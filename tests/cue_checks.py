"""Checks that subtitle files read like subtitles: shared by the fast shaping tests and the slow ones
on real recordings. Parsing is by the ``srt`` and ``webvtt-py`` libraries, not by our own code."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import srt
import webvtt

from runner.output.cues import MIN_CUE_SECONDS, CueLimits

SPEAKER_MARK = re.compile(r"^\[[^\]]*\] ")


def srt_cues(text: str) -> list[tuple[float, float, list[str]]]:
    """``(start, end, lines)`` of each cue of SubRip text, parsed by ``srt`` (speaker labels kept)."""
    return [(c.start.total_seconds(), c.end.total_seconds(), c.content.split("\n")) for c in srt.parse(text)]


def check_cues(cues: list[tuple[float, float, list[str]]], words: list[str], limits: CueLimits,
               duration: float | None = None) -> None:
    """Every cue within ``limits`` (a line over the limit only when it is one word; the reading
    speed over the limit only when the cue already reaches the next one or its longest), times
    monotonic with no overlaps, none past the audio's ``duration`` (seconds, when given; the last cue
    may be cut short there), and the cues' words (without speaker labels) exactly ``words`` in order."""
    assert cues, "no cues"
    for index, (start, end, lines) in enumerate(cues):
        following = cues[index + 1][0] if index + 1 < len(cues) else None
        assert start <= end, (index, start, end)
        assert following is None or end <= following + 1e-6, f"cue {index} overlaps the next"
        assert following is None or start <= following, "times not monotonic"
        assert len(lines) <= limits.max_lines, (index, lines)
        for line in lines:
            assert len(line) <= limits.max_line_length or " " not in line, (index, line)
        spoken = SPEAKER_MARK.sub("", " ".join(lines)).split()
        if len(spoken) > 1:
            assert end - start <= limits.max_cue_seconds + 0.0015, (index, start, end, lines)
        if duration is not None:
            assert end <= duration + 0.0015, f"cue {index} ends past the audio ({end} > {duration})"
        reaches = end >= (following if following is not None else duration or float("inf")) - 0.0015
        if not reaches and len(spoken) > 1:
            assert end - start >= min(MIN_CUE_SECONDS, limits.max_cue_seconds) - 0.0015, (index, start, end)
            chars = len(" ".join(lines))
            assert chars / (end - start) <= limits.max_cps + 0.05 or end - start >= limits.max_cue_seconds - 0.0015, \
                (index, chars, start, end)
    assert [w for _, _, lines in cues for w in SPEAKER_MARK.sub("", " ".join(lines)).split()] == words


def check_files(srt_path: Path, vtt_path: Path, words: list[str], limits: CueLimits,
                duration: float | None = None) -> None:
    """``check_cues`` on an srt file, and its vtt twin parses with ``webvtt-py`` to the same cues."""
    text = srt_path.read_text(encoding="utf-8")
    check_cues(srt_cues(text), words, limits, duration)
    subtitles = list(srt.parse(text))
    captions = webvtt.read(str(vtt_path))
    def vtt_time(delta: timedelta) -> str:
        return srt.timedelta_to_srt_timestamp(delta).replace(",", ".")

    assert [(c.start, c.end) for c in captions] == [(vtt_time(s.start), vtt_time(s.end)) for s in subtitles]
    assert [c.text.split() for c in captions] == [SPEAKER_MARK.sub("", s.content).split() for s in subtitles]
