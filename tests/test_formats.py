"""Subtitle and text formats rendered from hand-made transcripts."""

from __future__ import annotations

import json

import pytest
import srt
import webvtt

from runner.core.transcript import Segment, Transcript, Word
from runner.output.formats import (
    escape_vtt,
    format_timestamp,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
)
from runner.output.naming import safe_stem


@pytest.mark.parametrize(
    ("seconds", "srt_time", "vtt_time"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (59.9995, "00:01:00,000", "00:01:00.000"),
        (3599.9995, "01:00:00,000", "01:00:00.000"),
        (3600, "01:00:00,000", "01:00:00.000"),
        (36000.5, "10:00:00,500", "10:00:00.500"),
        (0.0004, "00:00:00,000", "00:00:00.000"),
        (61.2345, "00:01:01,235", "00:01:01.235"),
        (3725.007, "01:02:05,007", "01:02:05.007"),
    ],
)
def test_timestamps_always_have_hours_and_never_1000_ms(seconds, srt_time, vtt_time):
    assert format_timestamp(seconds, ",") == srt_time
    assert format_timestamp(seconds, ".") == vtt_time


def transcript(*segments: Segment) -> Transcript:
    return Transcript("en", 0.99, 4000.0, segments)


LONG = transcript(
    Segment(3599.9995, 3601.25, "Past the hour.", (Word(3599.9995, 3600.5, " Past", 0.9),)),
    Segment(3602.0, 3603.0, "Tom & Jerry <3 --> ok"),
    Segment(3604.0, 3604.5, ""),
)


def test_srt_parses_and_keeps_text_and_times():
    cues = list(srt.parse(to_srt(LONG)))
    assert [c.index for c in cues] == [1, 2]
    assert cues[0].start.total_seconds() == 3600.0 and cues[0].end.total_seconds() == 3601.25
    assert cues[1].content == "Tom & Jerry <3 --> ok"


def test_vtt_parses_and_escapes_markup(tmp_path):
    path = tmp_path / "a.vtt"
    path.write_text(to_vtt(LONG), encoding="utf-8")
    assert to_vtt(LONG).startswith("WEBVTT\n\n01:00:00.000 --> 01:00:01.250\n")
    captions = webvtt.read(str(path))
    assert [c.start for c in captions] == ["01:00:00.000", "01:00:02.000"]
    assert "-->" not in to_vtt(LONG).split("\n\n")[2].splitlines()[1]
    assert escape_vtt("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_empty_transcript_renders_valid_empty_files(tmp_path):
    empty = Transcript(None, None, 20.0, ())
    assert to_txt(empty) == "" and to_srt(empty) == ""
    assert list(srt.parse(to_srt(empty))) == []
    path = tmp_path / "e.vtt"
    path.write_text(to_vtt(empty))
    assert len(webvtt.read(str(path))) == 0
    assert json.loads(to_json(empty, {}))["segments"] == []


def test_json_carries_words_and_metadata():
    document = json.loads(to_json(LONG, {"job_id": "X", "model": "tiny.en"}))
    assert document["job_id"] == "X" and document["language"] == "en" and document["duration"] == 4000.0
    assert document["segments"][0]["words"] == [{"start": 3600.0, "end": 3600.5, "word": " Past", "probability": 0.9}]


def test_text_in_any_script_is_written_as_is():
    mixed = transcript(Segment(0, 1, "你好，世界 مرحبا 😀 café"))
    assert to_txt(mixed) == "你好，世界 مرحبا 😀 café\n"
    assert "你好，世界 مرحبا 😀 café" in to_json(mixed, {})


@pytest.mark.parametrize(
    ("name", "stem"),
    [("talk.wav", "talk"), ("-my talk (1).mp3", "-my talk (1)"), ("会议 记录.m4a", "会议 记录"),
     ("../../etc/passwd", "passwd"), ("..", "JOB"), (".hidden", ".hidden"), ("a\nb.wav", "a_b"),
     ("x" * 300 + ".wav", "x" * 200)],
)
def test_output_stem_keeps_the_name_but_not_paths(name, stem):
    assert safe_stem(name, "JOB") == stem
