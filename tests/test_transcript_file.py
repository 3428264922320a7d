"""The one reader of a job's JSON output: render -> read -> render gives the same bytes in every
format, a malformed file is refused with a message naming it, and the web reads through it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from runner.core.transcript import (
    Segment,
    Transcript,
    TranscriptFileError,
    Turn,
    Word,
    read_transcript,
)
from runner.jobs.outputs import record_outputs
from runner.output.formats import RENDERERS
from runner.output.naming import output_paths
from runner.output.speakers import assign_speakers
from runner.output.writing import write_outputs

METADATA = {"job_id": "J1", "file": "talk (1).wav", "model": "tiny.en", "options": {"formats": ["json"]}}


def spoken(*spans: tuple[float, float, str, float]) -> tuple[Word, ...]:
    return tuple(Word(start, end, f" {text}", probability) for start, end, text, probability in spans)


# Times and probabilities off the millisecond grid: the JSON holds them rounded, and every format
# rendered from the rounded values must still come out the same.
WORDS = (Segment(0.12345, 2.0004, "Hi, I'm Diane.", spoken((0.12345, 0.5, "Hi,", 0.912345), (0.6, 1.0, "I'm", 0.5),
                                                          (1.1, 2.0004, "Diane.", 0.99999))),
         Segment(3599.9995, 3601.25, "Tom & Jerry <3 --> ok", spoken((3599.9995, 3601.25, "Tom", 0.7))),
         Segment(3602.0, 3602.0, ""),
         Segment(3603.0, 3604.5, "你好，世界 café\nsecond line", spoken((3603.0, 3604.5, "你好", 0.25))))
NO_WORDS = tuple(Segment(s.start, s.end, s.text) for s in WORDS)
TURNS = (Turn(0.0, 3.0004, "A"), Turn(2.5, 3601.5, "B"), Turn(3601.5, 3700.0, "A"))

CASES = {
    "words": Transcript("en", 0.987654, 3700.0, WORDS),
    "no words": Transcript("de", None, 3700.00049, NO_WORDS),
    "speakers and words": assign_speakers(Transcript("en", 0.9, 3700.0, WORDS), TURNS),
    "speakers, no words": assign_speakers(Transcript("en", 0.9, 3700.0, NO_WORDS), TURNS),
    "diarized, no speech": assign_speakers(Transcript(None, None, 12.5, ()), ()),
    "empty": Transcript(None, None, 0.0, ()),
}


@pytest.mark.parametrize("case", CASES)
def test_render_read_render_gives_identical_bytes_in_every_format(case, tmp_path):
    paths = output_paths(tmp_path, "talk", tuple(RENDERERS))
    write_outputs(CASES[case], paths, METADATA)
    transcript, metadata = read_transcript(paths["json"])
    assert metadata == METADATA
    for fmt, path in paths.items():
        assert RENDERERS[fmt](transcript, metadata).encode("utf-8") == path.read_bytes(), fmt
    assert (transcript.turns is None) == (CASES[case].turns is None)


def test_what_is_read_is_the_transcript_at_millisecond_precision(tmp_path):
    paths = output_paths(tmp_path, "talk", ("json",))
    write_outputs(CASES["speakers and words"], paths, {})
    transcript, metadata = read_transcript(paths["json"])
    assert metadata == {} and (transcript.language, transcript.language_probability) == ("en", 0.9)
    first = transcript.segments[0]
    assert (first.start, first.end, first.speaker) == (0.123, 2.0, "SPEAKER_00")
    assert first.words[0] == Word(0.123, 0.5, " Hi,", 0.9123, "SPEAKER_00")
    assert transcript.segments[1].start == 3600.0
    assert transcript.turns[:2] == (Turn(0.0, 3.0, "SPEAKER_00"), Turn(2.5, 3601.5, "SPEAKER_01"))


def valid() -> dict:
    return json.loads(RENDERERS["json"](CASES["speakers and words"], METADATA))


def broken(change) -> bytes:
    document = valid()
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(("content", "detail"), [
    (b"\xff\xfe not utf-8", "can't decode byte 0xff"),
    (b"output of J1\n", "Expecting value: line 1 column 1"),
    (b'["a", "list"]', "it holds a JSON list, not an object"),
    (broken(lambda d: d.pop("segments")), "the field 'segments' is missing"),
    (broken(lambda d: d["segments"][1].pop("start")), "the field 'start' is missing"),
    (broken(lambda d: d["segments"][0]["words"][0].update(probability="high")), "could not convert string to float"),
    (broken(lambda d: d.update(turns=[["0", "1", "A"]])), "wrong type (list indices must be integers"),
    (broken(lambda d: d.update(language=5)), "language is 5, not a language code"),
    (broken(lambda d: d.update(segments="none")), "wrong type"),
])
def test_a_malformed_file_is_refused_with_its_name_and_what_is_wrong(content, detail, tmp_path):
    path = tmp_path / "talk.json"
    path.write_bytes(content)
    with pytest.raises(TranscriptFileError, match="talk.json is not a spoolscribe JSON transcript") as caught:
        read_transcript(path)
    assert detail in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_transcript(tmp_path / "gone.json")


def finished_with(app, ended_job, transcript: Transcript | None):
    """A succeeded job with txt and json outputs: ``transcript`` written by the real writer, or
    (None) the placeholder files ``ended_job`` leaves, which are not JSON."""
    job = ended_job(formats=("txt", "json"))
    if transcript is not None:
        paths = {Path(name).suffix[1:]: Path(name) for name in job.outputs}
        write_outputs(transcript, paths, {"job_id": job.id})
        record_outputs(app.store.engine, job.id, paths.values())  # as the runner does after writing
    return job


def test_the_job_page_and_the_api_read_lines_and_speakers_from_the_json(app, client, ended_job):
    job = finished_with(app, ended_job, CASES["speakers and words"])
    page = html.unescape(client.get(f"/jobs/{job.id}").get_data(as_text=True))
    assert "Hi, I'm Diane." in page and "Tom & Jerry <3 --> ok" in page
    assert 'value="SPEAKER_00"' in page and 'value="SPEAKER_01"' in page
    answer = client.post(f"/api/jobs/{job.id}/speakers", json={"names": {"SPEAKER_01": "Sheila"}})
    assert answer.status_code == 200, answer.json
    assert answer.json == {"renamed": {"SPEAKER_01": "Sheila"}, "speakers": ["SPEAKER_00", "Sheila"]}
    assert "[Sheila] Tom & Jerry <3 --> ok" in Path(job.outputs[0]).read_text()


def test_an_unreadable_json_output_is_explained_on_the_page_and_refused_by_renaming(app, client, ended_job):
    job = finished_with(app, ended_job, None)
    page = html.unescape(client.get(f"/jobs/{job.id}").get_data(as_text=True))
    assert "the transcript file cannot be read (jfk.json is not a spoolscribe JSON transcript" in page
    assert 'id="rename-speakers"' not in page
    answer = client.post(f"/api/jobs/{job.id}/speakers", json={"names": {"SPEAKER_00": "Bob"}})
    assert answer.status_code == 400 and "jfk.json is not a spoolscribe JSON transcript" in answer.json["error"]
    assert [Path(name).read_text() for name in job.outputs] == [f"output of {job.id}\n"] * 2
