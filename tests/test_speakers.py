"""Speaker assignment on hand-made turns, and the speaker-attributed formats (txt, srt, vtt, json, rttm)."""

from __future__ import annotations

import json

import pytest
import srt
import webvtt

from runner.core.transcript import Segment, Transcript, Turn, Word, read_transcript
from runner.output.formats import to_json, to_srt, to_txt, to_vtt
from runner.output.naming import output_paths
from runner.output.relabel import rename_speakers
from runner.output.rttm import to_rttm
from runner.output.speakers import (
    SpeakerNameError,
    assign_speakers,
    clean_names,
    rename_transcript,
    speakers_of,
)
from runner.output.writing import write_outputs


def words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, f" {text}", 0.9) for start, end, text in spans)


def transcript(*segments: Segment) -> Transcript:
    return Transcript("en", 0.99, 12.0, segments)


def spoken(result: Transcript) -> list[tuple[str, str | None]]:
    return [(word.word.strip(), word.speaker) for segment in result.segments for word in segment.words]


TWO = (Turn(0.0, 5.0, "A"), Turn(5.0, 10.0, "B"))


def test_each_word_goes_to_the_turn_it_overlaps_most_and_segments_split_there():
    segment = Segment(0.5, 9.0, "one two three four",
                      words((0.5, 1.0, "one"), (4.0, 4.6, "two"), (4.8, 5.5, "three"), (8.0, 9.0, "four")))
    result = assign_speakers(transcript(segment), TWO)
    # "three" lies 0.2 s in A's turn and 0.5 s in B's: B's, so the segment splits before it
    assert spoken(result) == [("one", "SPEAKER_00"), ("two", "SPEAKER_00"), ("three", "SPEAKER_01"),
                              ("four", "SPEAKER_01")]
    first, second = result.segments
    assert (first.start, first.end, first.text, first.speaker) == (0.5, 4.6, "one two", "SPEAKER_00")
    assert (second.start, second.end, second.text, second.speaker) == (4.8, 9.0, "three four", "SPEAKER_01")
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [(0.0, 5.0, "SPEAKER_00"), (5.0, 10.0, "SPEAKER_01")]


def test_a_word_in_a_gap_goes_to_the_nearest_turn():
    turns = (Turn(0.0, 2.0, "A"), Turn(6.0, 8.0, "B"))
    segment = Segment(0.0, 9.5, "a b c d", words((0.5, 1.0, "a"), (2.5, 2.9, "b"), (5.2, 5.8, "c"), (9.0, 9.5, "d")))
    result = assign_speakers(transcript(segment), turns)
    assert spoken(result) == [("a", "SPEAKER_00"), ("b", "SPEAKER_00"), ("c", "SPEAKER_01"), ("d", "SPEAKER_01")]
    # halfway between two turns: the earlier one
    assert spoken(assign_speakers(transcript(Segment(3.5, 4.5, "x", words((3.5, 4.5, "x")))), turns)) == \
        [("x", "SPEAKER_00")]


def test_one_speaker_keeps_the_segments_whole():
    segments = (Segment(0.0, 2.0, "Hello there.", words((0.0, 0.8, "Hello"), (0.9, 2.0, "there."))),
                Segment(3.0, 4.0, "Again.", words((3.0, 4.0, "Again."))))
    result = assign_speakers(transcript(*segments), (Turn(0.2, 3.9, "SPEAKER_07"),))
    assert [(s.text, s.speaker) for s in result.segments] == [("Hello there.", "SPEAKER_00"), ("Again.", "SPEAKER_00")]
    assert {speaker for _, speaker in spoken(result)} == {"SPEAKER_00"}
    assert to_txt(result) == "[SPEAKER_00] Hello there.\nAgain.\n"


def test_no_turns_leaves_the_transcript_without_speakers():
    segment = Segment(0.0, 2.0, "Hello there.", words((0.0, 0.8, "Hello"), (0.9, 2.0, "there.")))
    result = assign_speakers(transcript(segment), ())
    assert result.segments == (segment,) and result.turns == ()
    assert to_txt(result) == "Hello there.\n" and "<v" not in to_vtt(result)
    document = json.loads(to_json(result, {}))
    assert document["speakers"] == [] and document["turns"] == []
    assert to_rttm(result, {"file": "x.wav"}) == ""


def test_labels_follow_first_appearance_and_exclusive_turns_decide():
    regular = (Turn(0.0, 3.0, "SPEAKER_01"), Turn(1.0, 6.0, "SPEAKER_00"), Turn(6.0, 8.0, "SPEAKER_02"))
    exclusive = (Turn(0.0, 4.5, "SPEAKER_01"), Turn(4.5, 6.0, "SPEAKER_00"), Turn(6.0, 8.0, "SPEAKER_02"))
    segment = Segment(1.0, 7.0, "a b", words((1.0, 5.0, "a"), (6.5, 7.0, "b")))
    # by the regular turns "a" is SPEAKER_00's (4 s against 2 s); by the exclusive ones SPEAKER_01's (3.5 s)
    assert spoken(assign_speakers(transcript(segment), regular)) == [("a", "SPEAKER_00"), ("b", "SPEAKER_01")]
    result = assign_speakers(transcript(segment), regular, exclusive)
    assert [s.speaker for s in result.segments] == ["SPEAKER_00", "SPEAKER_01"]
    # relabelled by first appearance: pipeline SPEAKER_01 -> 00, SPEAKER_02 -> 01; SPEAKER_00 has no word, so last
    assert spoken(result) == [("a", "SPEAKER_00"), ("b", "SPEAKER_01")]
    assert speakers_of(result) == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    # the turns kept are the regular, overlapping ones, relabelled the same way
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [(0.0, 3.0, "SPEAKER_00"), (1.0, 6.0, "SPEAKER_02"),
                                                                   (6.0, 8.0, "SPEAKER_01")]


def test_segments_without_words_take_the_speaker_of_their_span():
    segments = (Segment(0.0, 4.0, "First."), Segment(4.5, 9.0, "Second."))
    result = assign_speakers(transcript(*segments), TWO)
    assert [(s.text, s.speaker) for s in result.segments] == [("First.", "SPEAKER_00"), ("Second.", "SPEAKER_01")]


@pytest.fixture
def dialogue() -> Transcript:
    segments = (Segment(0.0, 2.0, "Hi, I'm Diane.", words((0.0, 0.5, "Hi,"), (0.6, 1.0, "I'm"), (1.1, 2.0, "Diane."))),
                Segment(2.0, 3.0, "<Welcome> & more", words((2.0, 3.0, "<Welcome>"))),
                Segment(5.5, 7.0, "Hello Diane.", words((5.5, 6.0, "Hello"), (6.1, 7.0, "Diane."))))
    return assign_speakers(transcript(*segments), TWO)


def test_txt_and_srt_mark_each_change_of_speaker(dialogue):
    assert to_txt(dialogue) == "[SPEAKER_00] Hi, I'm Diane.\n<Welcome> & more\n[SPEAKER_01] Hello Diane.\n"
    cues = list(srt.parse(to_srt(dialogue)))
    assert [c.content for c in cues] == ["[SPEAKER_00] Hi, I'm Diane.", "<Welcome> & more", "[SPEAKER_01] Hello Diane."]


def test_vtt_voice_tags_are_well_formed(dialogue, tmp_path):
    path = tmp_path / "d.vtt"
    path.write_text(to_vtt(dialogue), encoding="utf-8")
    captions = webvtt.read(str(path))
    assert [c.voice for c in captions] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]
    assert [c.text for c in captions] == ["Hi, I'm Diane.", "&lt;Welcome&gt; &amp; more", "Hello Diane."]
    assert captions[1].raw_text == "<v SPEAKER_00>&lt;Welcome&gt; &amp; more</v>"


def test_json_carries_speakers_of_segments_words_and_the_turns(dialogue):
    document = json.loads(to_json(dialogue, {"file": "talk.wav"}))
    assert document["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert document["turns"] == [{"start": 0.0, "end": 5.0, "speaker": "SPEAKER_00"},
                                 {"start": 5.0, "end": 10.0, "speaker": "SPEAKER_01"}]
    assert all(w["speaker"] == s["speaker"] for s in document["segments"] for w in s["words"])
    assert [s["speaker"] for s in document["segments"]] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]


def test_rttm_lines_follow_the_nist_layout(dialogue):
    text = to_rttm(dialogue, {"file": "my talk.final.wav", "job_id": "J"})
    assert text == ("SPEAKER my_talk.final 1 0.000 5.000 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
                    "SPEAKER my_talk.final 1 5.000 5.000 <NA> <NA> SPEAKER_01 <NA> <NA>\n")


def test_renaming_changes_every_output_and_two_names_may_merge(dialogue):
    names = clean_names({"SPEAKER_00": "  Diane  Smith ", "SPEAKER_01": "SPEAKER_01"}, speakers_of(dialogue))
    assert names == {"SPEAKER_00": "Diane Smith"}
    renamed = rename_transcript(dialogue, names)
    assert to_txt(renamed).startswith("[Diane Smith] Hi, I'm Diane.\n")
    assert "<v Diane Smith>Hi, I'm Diane.</v>" in to_vtt(renamed)
    assert "Diane_Smith" in to_rttm(renamed, {"file": "a.wav"})
    merged = rename_transcript(renamed, {"SPEAKER_01": "Diane Smith"})
    assert speakers_of(merged) == ["Diane Smith"] and to_txt(merged).count("[") == 1


@pytest.mark.parametrize(("names", "message"), [
    ({"SPEAKER_09": "Bob"}, "no speaker 'SPEAKER_09'"),
    ({"SPEAKER_00": "Bob\x07"}, "control characters"),
    ({"SPEAKER_00": "B" * 81}, "longer than 80"),
])
def test_bad_names_are_refused(dialogue, names, message):
    with pytest.raises(SpeakerNameError, match=message):
        clean_names(names, speakers_of(dialogue))


def test_renaming_a_jobs_outputs_rewrites_every_format_from_its_json(dialogue, tmp_path):
    paths = output_paths(tmp_path, "talk", ("txt", "srt", "vtt", "json", "rttm"))
    metadata = {"job_id": "J1", "file": "talk.wav", "model": "tiny.en", "options": {"diarize": True}}
    write_outputs(dialogue, paths, metadata)
    before = {fmt: path.read_text() for fmt, path in paths.items()}
    transcript, meta = read_transcript(paths["json"])
    assert meta == metadata and to_json(transcript, meta) == before["json"]  # the JSON holds everything

    assert rename_speakers(paths.values(), {"SPEAKER_01": "Sheila", "SPEAKER_00": ""}) == {"SPEAKER_01": "Sheila"}
    after = {fmt: path.read_text() for fmt, path in paths.items()}
    assert after["txt"] == before["txt"].replace("[SPEAKER_01]", "[Sheila]")
    assert after["srt"] == before["srt"].replace("[SPEAKER_01]", "[Sheila]")
    assert after["vtt"] == before["vtt"].replace("<v SPEAKER_01>", "<v Sheila>")
    assert after["rttm"] == before["rttm"].replace(" SPEAKER_01 ", " Sheila ")
    assert json.loads(after["json"])["speakers"] == ["SPEAKER_00", "Sheila"]
    assert rename_speakers(paths.values(), {"Sheila": "Sheila Jones"}) == {"Sheila": "Sheila Jones"}
    assert "[Sheila Jones] Hello Diane." in paths["txt"].read_text()
    with pytest.raises(SpeakerNameError, match="no speaker 'SPEAKER_01'"):
        rename_speakers(paths.values(), {"SPEAKER_01": "Bob"})
    with pytest.raises(FileNotFoundError, match="json output"):
        rename_speakers([paths["txt"], paths["vtt"]], {"SPEAKER_00": "Bob"})
