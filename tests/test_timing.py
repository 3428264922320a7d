"""Outputs never contradict the audio (runner.output.timing): a transcript with every kind of wrong
time (out of order, overlapping, negative, past the audio's end, ending before its start; in
segments, words and speaker turns) through every writer, read back by ``srt``, ``webvtt-py``,
``json`` and pyannote's RTTM reader, and through the renames and the compat API that render outputs
again. The runner's side (the warning, a 0.3 s clip, inbox results): tests/test_timing_jobs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import srt
import webvtt
from cue_checks import SPEAKER_MARK
from pyannote.database.util import load_rttm

from runner.core.options import JobOptions
from runner.core.transcript import Segment, Transcript, Turn, Word, read_transcript
from runner.output.relabel import rename_speakers
from runner.output.timing import fit_to_audio
from runner.output.writing import write_outputs

DURATION = 12.0
FORMATS = ("txt", "srt", "vtt", "json", "rttm")


def word(start: float, end: float, text: str, speaker: str | None = None) -> Word:
    return Word(start, end, f" {text}", 0.9, speaker)


def bad_transcript() -> Transcript:
    """Every wrong time at once, on 12 s of audio."""
    a, b = "SPEAKER_00", "SPEAKER_01"
    segments = (
        Segment(2.0, 4.0, "two three", (word(2.0, 2.5, "two", a), word(3.9, 4.6, "three", a)), a),  # a word past it
        # starts before 0, and comes after a later segment
        Segment(-0.5, 1.5, "zero one", (word(-0.5, 0.4, "zero", a), word(0.5, 1.5, "one", a)), a),
        Segment(3.5, 6.0, "overlapping here", (word(3.5, 4.0, "overlapping", b), word(4.0, 6.0, "here", b)), b),
        Segment(8.0, 7.0, "backwards", (word(8.0, 7.5, "backwards", b),), b),  # ends before it starts
        # its words out of order, and overlapping
        Segment(9.0, 10.0, "gamma delta", (word(9.5, 10.0, "gamma", b), word(9.0, 9.6, "delta", b)), b),
        Segment(11.0, 12.8, "past end", (word(11.0, 11.5, "past", a), word(12.4, 12.9, "end", a)), a),  # past the end
        Segment(12.5, 13.0, "after", (word(12.5, 13.0, "after", a),), a),  # starts after the end
    )
    turns = (Turn(-1.0, 3.0, a), Turn(2.5, 13.0, b), Turn(7.0, 6.0, a))
    return Transcript("en", 0.9, DURATION, segments, turns)


SPOKEN = sorted(w.word.strip() for s in bad_transcript().segments for w in s.words)
NO_LIMITS = {"max_line_length": 0, "max_lines": 0, "max_cue_seconds": 0, "max_cps": 0}


def vtt_seconds(timestamp: str) -> float:
    """A WebVTT ``HH:MM:SS.mmm`` time in seconds (read by ``srt``'s timestamp parser)."""
    return srt.srt_timestamp_to_timedelta(timestamp.replace(".", ",")).total_seconds()


def check_spans(spans: list[tuple[float, float]], what: str, apart: bool = True, duration: float = DURATION) -> None:
    """Each ``(start, end)`` within [0, ``duration``], ending at or after its start, in time order,
    and (``apart``) ending at or before the next one starts."""
    assert spans, f"no {what}"
    for index, (start, end) in enumerate(spans):
        assert 0 <= start <= end <= duration, (what, index, start, end)
        if index + 1 < len(spans):
            following = spans[index + 1][0]
            assert start <= following, (what, "out of order", index)
            assert not apart or end <= following, (what, "overlaps the next", index, end, following)


def check_document(document: dict) -> None:
    """The JSON transcript's segments, words and turns all fit the audio."""
    assert document["duration"] == DURATION
    segments = document["segments"]
    check_spans([(s["start"], s["end"]) for s in segments], "segments")
    for segment in segments:
        check_spans([(w["start"], w["end"]) for w in segment["words"]], "words")
        assert all(segment["start"] <= w["start"] and w["end"] <= segment["end"] for w in segment["words"]), segment
    check_spans([(t["start"], t["end"]) for t in document["turns"]], "turns", apart=False)
    assert sorted(w["word"].strip() for s in segments for w in s["words"]) == SPOKEN  # no word lost


def check_files(paths: dict[str, Path]) -> None:
    """Every output file fits the audio, read back by the libraries that read those formats."""
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    check_document(document)
    cues = list(srt.parse(paths["srt"].read_text(encoding="utf-8")))
    assert cues
    check_spans([(c.start.total_seconds(), c.end.total_seconds()) for c in cues], "srt cues")
    assert sorted(w for c in cues for w in c.content.split() if not w.startswith("[")) == SPOKEN
    captions = [(vtt_seconds(c.start), vtt_seconds(c.end)) for c in webvtt.read(str(paths["vtt"]))]
    assert captions == [(c.start.total_seconds(), c.end.total_seconds()) for c in cues]
    lines = paths["txt"].read_text(encoding="utf-8").splitlines()
    assert [SPEAKER_MARK.sub("", line) for line in lines] == [s["text"] for s in document["segments"]]  # time order
    annotation = load_rttm(str(paths["rttm"]))["bad"]
    tracks = [(segment.start, segment.end) for segment, _track in annotation.itertracks()]
    check_spans(sorted(tracks), "rttm turns", apart=False)
    assert len(tracks) == 2  # the turn that ends before it starts is empty, and RTTM readers leave it out


@pytest.mark.parametrize("limits", [{}, NO_LIMITS], ids=["shaped cues", "one cue per segment"])
def test_every_writer_fits_any_transcript_to_the_audio(tmp_path, limits):
    metadata = {"job_id": "job1", "file": "bad.wav", "options": JobOptions(**limits).to_dict()}
    paths = {fmt: tmp_path / f"bad.{fmt}" for fmt in FORMATS}
    write_outputs(bad_transcript(), paths, metadata)
    check_files(paths)


def test_the_warning_says_what_was_corrected():
    fitted = fit_to_audio(bad_transcript())
    assert fitted.corrections == (
        "1 segment starting before 0 s was moved to start at 0 s",
        "2 segments ending after the audio's end (12.0 s) were cut there",
        "1 segment ending before its start now ends at its start",
        "1 segment out of time order was put in order",
        "1 segment overlapping the next was cut where the next starts",
        "1 word starting before 0 s was moved to start at 0 s",
        "2 words ending after the audio's end (12.0 s) were cut there",
        "1 word ending before its start now ends at its start",
        "1 word out of time order was put in order",
        "1 word overlapping the next was cut where the next starts",
        "1 word outside its segment was moved into it",
        "1 speaker turn starting before 0 s was moved to start at 0 s",
        "1 speaker turn ending after the audio's end (12.0 s) was cut there",
        "1 speaker turn ending before its start now ends at its start",
    )
    assert fitted.warning == "times corrected to fit the audio: " + "; ".join(fitted.corrections)
    segments = fitted.transcript.segments
    assert [s.text for s in segments] == ["zero one", "two three", "overlapping here", "backwards", "gamma delta",
                                          "past end", "after"]
    assert [(s.start, s.end) for s in segments] == [(0.0, 1.5), (2.0, 3.5), (3.5, 6.0), (8.0, 8.0), (9.0, 10.0),
                                                    (11.0, 12.0), (12.0, 12.0)]
    assert [(w.word, w.start, w.end) for w in segments[4].words] == [(" delta", 9.0, 9.5), (" gamma", 9.5, 10.0)]
    assert [(w.start, w.end) for w in segments[1].words] == [(2.0, 2.5), (3.5, 3.5)]  # into its cut segment


def test_fitting_is_idempotent_and_leaves_a_good_transcript_as_it_is():
    fitted = fit_to_audio(bad_transcript()).transcript
    again = fit_to_audio(fitted)
    assert again.corrections == () and again.warning is None and again.transcript == fitted
    good = Transcript("en", 0.9, 3.0, (Segment(0.0, 1.25, "hi", (word(0.0, 1.25, "hi"),)), Segment(1.25, 3.0, "bye")))
    assert fit_to_audio(good) == type(again)(good, ())


def test_a_clip_shorter_than_its_segment_says_so_in_its_own_figures():
    clip = Transcript("en", 0.9, 0.3, (Segment(0.0, 0.5, "Hi.", (word(0.0, 0.5, "Hi."),)),))
    assert fit_to_audio(clip).corrections == ("1 segment ending after the audio's end (0.3 s) was cut there",
                                              "1 word ending after the audio's end (0.3 s) was cut there")
    crowded = Transcript("en", 0.9, 12.25, tuple(Segment(t, t + 1.5, "x") for t in (10.0, 10.5, 11.0, 11.5)))
    assert fit_to_audio(crowded).corrections == (
        "2 segments ending after the audio's end (12.25 s) were cut there",
        "3 segments overlapping the next were cut where the next starts")


def test_renaming_speakers_renders_an_older_unfitted_json_fitted(tmp_path):
    """A JSON output written before outputs were fitted: a rename re-renders every format fitted."""
    from runner.output.formats import to_json

    paths = {fmt: tmp_path / f"bad.{fmt}" for fmt in FORMATS}
    for path in paths.values():
        path.write_text("old\n")
    paths["json"].write_text(to_json(bad_transcript(), {"job_id": "job1", "file": "bad.wav"}))
    assert rename_speakers(paths.values(), {"SPEAKER_00": "Ana"}) == {"SPEAKER_00": "Ana"}
    check_files({**paths})  # the rttm's file field is the stem of "bad.wav"
    transcript, _ = read_transcript(paths["json"])
    assert transcript.segments[0].speaker == "Ana"
    assert "[Ana] zero one" in paths["srt"].read_text()
