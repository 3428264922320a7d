"""Cue shaping for srt and vtt (runner.output.cues) on hand-made transcripts: limits, balance,
break preferences, timing, speakers, and transcripts without word timestamps."""

from __future__ import annotations

import pytest
import srt
import webvtt
from cue_checks import check_cues, check_files, srt_cues

from runner.core.transcript import Segment, Transcript, Word
from runner.output.cues import CueLimits, shape_cues, shaping_warning, wrap
from runner.output.formats import to_srt, to_vtt

LIMITS = CueLimits()


def timed(text: str, start: float, seconds_per_word: float, speaker: str | None = None) -> Segment:
    """A segment whose words follow each other every ``seconds_per_word``."""
    words = tuple(Word(start + i * seconds_per_word, start + (i + 1) * seconds_per_word, f" {w}", 0.9, speaker)
                  for i, w in enumerate(text.split()))
    return Segment(start, words[-1].end, text, words, speaker)


def transcript(*segments: Segment) -> Transcript:
    return Transcript("en", 0.99, 4000.0, segments)


FORTY = ("When the committee finally met again in the spring after a long winter of arguments about money "
         "and roads and schools nobody expected the mayor to stand up and announce that she would resign "
         "before the summer was entirely over.")


def test_a_single_40_word_sentence_is_cut_into_readable_cues(tmp_path):
    assert len(FORTY.split()) == 40
    text = transcript(timed(FORTY, 10.0, 0.3))
    (tmp_path / "a.srt").write_text(to_srt(text))
    (tmp_path / "a.vtt").write_text(to_vtt(text))
    check_files(tmp_path / "a.srt", tmp_path / "a.vtt", FORTY.split(), LIMITS)
    cues = srt_cues(to_srt(text))
    assert 4 <= len(cues) <= 6
    assert all(len(lines) == 2 for _, _, lines in cues[:-1])  # full cues, not a word at a time


def test_a_word_longer_than_the_line_limit_stays_whole_on_its_own_line():
    long_word = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung"
    words = f"the pension of the {long_word} was paid on time every month".split()
    cues = srt_cues(to_srt(transcript(timed(" ".join(words), 0.0, 0.4))))
    check_cues(cues, words, LIMITS)
    assert [long_word] in [lines for _, _, lines in cues] or any(long_word in lines for _, _, lines in cues)
    assert all(len(line) <= 42 for _, _, lines in cues for line in lines if line != long_word)


def test_breaks_prefer_sentence_ends_then_clauses():
    sentences = ("It rained all day. We stayed inside for the whole long afternoon, played cards and talked "
                 "about the old house by the sea.")
    cues = shape_cues(transcript(timed(sentences, 0.0, 0.3)), LIMITS)
    assert [c.text.replace("\n", " ") for c in cues] == [
        "It rained all day.", "We stayed inside for the whole long afternoon,",
        "played cards and talked about the old house by the sea."]


ELEVEN = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]


def test_lines_are_balanced_and_within_the_limit():
    assert wrap(ELEVEN, 42) == [
        "one two three four five six", "seven eight nine ten eleven"]
    assert wrap(["short"], 42) == ["short"]
    assert wrap(["a", "b", "c"], 0) == ["a b c"]


def test_cues_last_at_least_a_second_where_the_gap_allows_and_never_overlap():
    quick = transcript(timed("Yes.", 1.0, 0.2), timed("No.", 1.5, 0.2), timed("Maybe later.", 5.0, 0.2))
    cues = shape_cues(quick, LIMITS)
    assert [(c.start, c.end) for c in cues] == [(1.0, 1.5), (1.5, 2.5), (5.0, 6.0)]


def test_fast_speech_is_held_longer_for_reading_where_the_gap_allows():
    fast = transcript(timed("an extraordinarily complicated sentence", 0.0, 0.1), timed("Next.", 10.0, 0.3))
    first = shape_cues(fast, LIMITS)[0]
    assert first.end == pytest.approx(len("an extraordinarily complicated sentence") / 20)


def test_long_pauses_inside_a_segment_split_cues_at_seven_seconds():
    slow = transcript(timed("one two three four five six", 0.0, 2.0))
    cues = shape_cues(slow, LIMITS)
    assert all(c.end - c.start <= 7.0 for c in cues) and len(cues) >= 2


def test_speaker_changes_start_a_new_cue_with_the_name():
    text = transcript(timed("Hello there.", 0.0, 0.3, "Ana"), timed("Hi.", 0.6, 0.3, "Ben"),
                      timed("How are you?", 2.0, 0.3, "Ben"))
    parsed = list(srt.parse(to_srt(text)))
    assert [s.content for s in parsed] == ["[Ana] Hello there.", "[Ben] Hi.", "How are you?"]
    assert "<v Ben>Hi.</v>" in to_vtt(text)


SPEECH = "Thank you all for coming tonight to hear about the new bridge."


def test_the_speakers_label_counts_in_the_first_lines_length(tmp_path):
    name = "Dr. Margarethe Oberhausen"
    text = transcript(timed(SPEECH, 0.0, 0.3, name),
                      timed("Thanks.", 4.0, 0.3, "Ben"))
    (tmp_path / "d.srt").write_text(to_srt(text))
    (tmp_path / "d.vtt").write_text(to_vtt(text))
    words = [*SPEECH.split(), "Thanks."]
    check_files(tmp_path / "d.srt", tmp_path / "d.vtt", words, LIMITS)
    first = list(srt.parse(to_srt(text)))[0].content
    assert first.startswith(f"[{name}] Thank") and all(len(line) <= 42 for line in first.split("\n"))
    assert to_vtt(text).count(f"[{name}]") == 0 and f"<v {name}>Thank you all for</v>" in to_vtt(text)


def test_without_word_timestamps_cues_are_split_by_characters_with_a_warning(tmp_path):
    plain = transcript(Segment(0.0, 12.0, FORTY), Segment(12.0, 14.0, "The end."))
    assert shaping_warning(plain, LIMITS) and "word_timestamps" in shaping_warning(plain, LIMITS)
    (tmp_path / "b.srt").write_text(to_srt(plain))
    (tmp_path / "b.vtt").write_text(to_vtt(plain))
    check_files(tmp_path / "b.srt", tmp_path / "b.vtt", [*FORTY.split(), "The", "end."], LIMITS)
    assert shaping_warning(transcript(timed(FORTY, 0.0, 0.3)), LIMITS) is None


def test_all_limits_off_keeps_whole_segments_and_txt_keeps_segments():
    text = transcript(timed(FORTY, 0.0, 0.3))
    off = CueLimits(0, 0, 0, 0)
    assert off.off and shaping_warning(text, off) is None
    assert [s.content for s in srt.parse(to_srt(text, off))] == [FORTY]


def test_limits_come_from_the_job_options_in_the_metadata_with_defaults_for_old_jobs():
    assert CueLimits.from_metadata({}) == LIMITS
    assert CueLimits.from_metadata({"options": {"language": "en", "formats": ["srt"]}}) == LIMITS
    assert CueLimits.from_metadata({"options": {"max_lines": 1, "max_cps": "15"}}) == CueLimits(42, 1, 7.0, 15.0)


def test_vtt_cues_parse_and_escape(tmp_path):
    text = transcript(timed("Tom & Jerry <3 --> fine, really fine.", 0.0, 0.3))
    path = tmp_path / "c.vtt"
    path.write_text(to_vtt(text))
    shown = " ".join(c.text.replace("\n", " ") for c in webvtt.read(str(path)))
    assert shown == "Tom &amp; Jerry &lt;3 -&#45;&gt; fine, really fine."
