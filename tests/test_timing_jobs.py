"""A job's outputs never contradict its audio, and a language the model cannot do is said: through the
runner in this process (a fake recognizer giving wrong times, or acting as an English-only model),
the job's warnings, its page, results beside an inbox file, and the compat API's answers. The
writers on their own: tests/test_timing.py; the real model: tests/test_timing_live.py."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from pathlib import Path

import srt
import webvtt
from conftest import DATA
from fakes import FakeRecognizer
from media_tools import ffmpeg
from test_timing import bad_transcript, check_spans, vtt_seconds

from runner.core.options import JobOptions
from runner.core.schema import JobSource
from runner.core.transcript import Segment, Word
from runner.daemon.recognizer import english_only_warning
from runner.jobs.outputs import record_outputs
from runner.jobs.submit import submit_path
from runner.output.formats import to_json
from webui.compat import create_app as create_compat_app

FORMATS = ("txt", "srt", "vtt", "json")
TOO_LONG = [Segment(0.0, 0.5, "Hi.", (Word(0.0, 0.5, " Hi.", 0.9),))]
"""What Whisper can give for a 0.3 s clip: a segment as long as the least it thinks speech takes."""
CLIP_WARNING = ("times corrected to fit the audio: 1 segment ending after the audio's end (0.3 s) was cut there; "
                "1 word ending after the audio's end (0.3 s) was cut there")


def outputs(job) -> dict[str, str]:
    """The job's output files' text by format."""
    return {Path(p).suffix[1:]: Path(p).read_text(encoding="utf-8") for p in job.outputs}


def replace_json_output(app, job_id: str) -> None:
    """Put an unfitted transcript (``test_timing.bad_transcript``) in the job's JSON output, as an
    older version could have written it, and record it as the job's own."""
    job = app.store.get(job_id)
    json_output = Path(next(p for p in job.outputs if p.endswith(".json")))
    json_output.write_text(to_json(bad_transcript(), {"job_id": job_id, "file": "jfk.flac"}))
    record_outputs(app.store.engine, job_id, job.outputs)


def test_a_03s_clip_gets_no_time_past_its_end_and_the_job_says_what_was_cut(app, submit, perform, client, tmp_path):
    clip = tmp_path / "clip.wav"
    ffmpeg("-i", str(DATA / "jfk.flac"), "-t", "0.3", str(clip))
    job_id = submit(clip, formats=",".join(FORMATS)).id
    assert perform(job_id, engine=FakeRecognizer(script=TOO_LONG)) == "succeeded"
    job = app.store.get(job_id)
    assert job.duration == 0.3 and job.warnings == [CLIP_WARNING], job.warnings
    written = outputs(job)
    cues = list(srt.parse(written["srt"]))
    assert [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues] == [(0.0, 0.3, "Hi.")]
    captions = webvtt.from_buffer(io.StringIO(written["vtt"]))
    assert [(vtt_seconds(c.start), vtt_seconds(c.end)) for c in captions] == [(0.0, 0.3)]
    document = json.loads(written["json"])
    assert document["duration"] == 0.3 and document["segments"][0]["end"] == 0.3
    assert document["segments"][0]["words"][0]["end"] == 0.3
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "1 segment ending after the audio&#39;s end (0.3 s) was cut there" in page
    assert 'data-start="0.000" data-end="0.300"' in page


def test_inbox_results_beside_the_file_fit_the_audio(app, inbox, perform):
    source = inbox / "talk.flac"
    source.write_bytes((DATA / "jfk.flac").read_bytes())  # 11 s
    job = submit_path(app.store, app.spool, source, JobOptions(formats=FORMATS), kind=JobSource.INBOX,
                      inbox_path=str(source))
    script = [Segment(9.0, 10.0, "late"), Segment(2.0, 1.0, "backwards"), Segment(10.5, 14.0, "past the end")]
    assert perform(job.id, engine=FakeRecognizer(script=script)) == "succeeded"
    done = app.store.get(job.id)
    assert sorted(Path(p).parent for p in done.outputs) == [inbox] * len(FORMATS)
    assert done.warnings[0] == (  # then the cue shaping's own, about segments without word timestamps
        "times corrected to fit the audio: 1 segment ending after the audio's end (11.0 s) was cut there; "
        "1 segment ending before its start now ends at its start; 1 segment out of time order was put in order")
    cues = list(srt.parse((inbox / "talk.srt").read_text()))
    assert [c.content for c in cues] == ["backwards", "late", "past the end"]
    check_spans([(c.start.total_seconds(), c.end.total_seconds()) for c in cues], "cues", duration=11.0)
    assert (inbox / "talk.txt").read_text().splitlines() == ["backwards", "late", "past the end"]


def test_an_english_only_model_asked_for_german_says_so_on_the_job_and_its_page(app, submit, perform, client):
    job_id = submit(DATA / "jfk.flac", language="de").id
    assert perform(job_id, engine=FakeRecognizer(english_only=True)) == "succeeded"
    job = app.store.get(job_id)
    warning = english_only_warning(FakeRecognizer.MODEL, "de")
    assert job.language == "en" and job.warnings == [warning]
    assert warning.startswith("the language asked for, german (de), was not used: the model fake.en is English-only")
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "german (de), was not used: the model fake.en is English-only, so the audio was transcribed as " \
           "English (en)" in page
    assert client.get(f"/api/jobs/{job_id}").json["warnings"] == [warning]
    english = submit(DATA / "jfk.flac", language="en").id  # what it can do: no warning
    assert perform(english, engine=FakeRecognizer(english_only=True)) == "succeeded"
    assert app.store.get(english).warnings == []


def test_the_compat_api_answers_an_older_unfitted_json_fitted(app, perform):
    """A JSON output written before outputs were fitted (or edited since): every compat answer made
    from it fits the audio, because the compat API reads transcripts through the same fitting."""
    client = create_compat_app(app.settings).test_client()
    app.store.heartbeat("compat-test", "idle", None, datetime.utcnow())

    def post(url: str, field: str, asynchronous: bool = False, **form):
        with open(DATA / "jfk.flac", "rb") as audio:
            return client.post(url, data={**form, field: (audio, "jfk.flac")},
                               headers={"Prefer": "respond-async"} if asynchronous else {})

    def answer(url: str, field: str, **form):
        answered = post(url, field, **form)
        assert answered.status_code == 200, answered.get_data(as_text=True)
        return answered

    for url, field, form in (("/asr?output=srt", "audio_file", {}),
                             ("/v1/audio/transcriptions", "file", {"model": "whisper-1"})):
        queued = post(url, field, asynchronous=True, **form)
        assert queued.status_code == 202, queued.json
        if queued.json["status"] == "queued":  # not the job of an identical earlier request
            assert perform(queued.json["id"]) == "succeeded"
            replace_json_output(app, queued.json["id"])

    cues = list(srt.parse(answer("/asr?output=srt", "audio_file").get_data(as_text=True)))
    check_spans([(c.start.total_seconds(), c.end.total_seconds()) for c in cues], "bazarr srt")
    captions = webvtt.from_buffer(io.StringIO(answer("/asr?output=vtt", "audio_file").get_data(as_text=True)))
    check_spans([(vtt_seconds(c.start), vtt_seconds(c.end)) for c in captions], "bazarr vtt")
    tsv = answer("/asr?output=tsv", "audio_file").get_data(as_text=True)
    rows = [line.split("\t") for line in tsv.splitlines()[1:]]
    check_spans([(int(start) / 1000, int(end) / 1000) for start, end, _text in rows], "bazarr tsv")
    whisper = answer("/asr?output=json", "audio_file").json
    check_spans([(s["start"], s["end"]) for s in whisper["segments"]], "bazarr json")

    openai = {"model": "whisper-1"}
    verbose = answer("/v1/audio/transcriptions", "file", response_format="verbose_json",
                     **{"timestamp_granularities[]": ["word", "segment"]}, **openai).json
    assert verbose["duration"] == 12.0
    check_spans([(s["start"], s["end"]) for s in verbose["segments"]], "openai segments")
    check_spans([(w["start"], w["end"]) for w in verbose["words"]], "openai words")
    openai_srt = answer("/v1/audio/transcriptions", "file", response_format="srt", **openai).get_data(as_text=True)
    check_spans([(c.start.total_seconds(), c.end.total_seconds()) for c in srt.parse(openai_srt)], "openai srt")


def test_the_page_lists_an_older_unfitted_json_fitted(app, submit, perform, client):
    job_id = submit(DATA / "jfk.flac", formats="txt,json").id
    assert perform(job_id) == "succeeded"
    replace_json_output(app, job_id)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    starts = [float(start) for start in re.findall(r'<li data-start="([0-9.]+)"', page)]
    assert len(starts) == len(bad_transcript().segments)
    assert starts == sorted(starts) and starts[0] == 0.0 and starts[-1] == 12.0
