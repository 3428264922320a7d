"""Media-library naming of inbox results (``naming = "media"``): ``Movie (2020).en.srt`` beside the
video, skipped when a subtitle in that language is already beside it or inside it; the language tag.
Placement functions and the writer on real generated videos first, then real inbox and runner processes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import srt
from conftest import wait_for

from runner.core.options import JobOptions
from runner.core.schema import InboxFileStatus, JobSource
from runner.core.settings import Settings
from runner.core.spool import JobFile
from runner.core.transcript import Segment, Transcript, Word
from runner.daemon.library import write_library_results
from runner.ingest.ledger import Ledger
from runner.output.inbox import existing_subtitle, media_output_paths
from runner.output.languages import iso639_1, subtitle_language

JOB_ID = "01J00000000000000000000000"
MEDIA = JobOptions(naming="media", formats=("txt", "srt", "vtt", "json"))
WORDS = ("And", "so,", "my", "fellow", "Americans.")
TRANSCRIPT = Transcript("en", 0.97, 3.0, (Segment(0.3, 2.8, " ".join(WORDS), tuple(
    Word(0.3 + 0.5 * i, 0.7 + 0.5 * i, f" {w}", 0.9) for i, w in enumerate(WORDS))),))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_movie(path: Path, audio: Path, subtitle_language: str | None = None) -> Path:
    """A small Matroska video: a test pattern, ``audio`` tagged English, and optionally an embedded
    SubRip stream tagged ``subtitle_language``."""
    inputs = ["-f", "lavfi", "-i", "testsrc=duration=3:size=64x64:rate=5", "-i", str(audio)]
    maps = ["-map", "0:v", "-map", "1:a"]
    if subtitle_language is not None:
        cue = path.with_suffix(".input.srt")
        cue.write_text("1\n00:00:00,000 --> 00:00:02,000\nAlready subtitled.\n", encoding="utf-8")
        inputs += ["-i", str(cue)]
        maps += ["-map", "2", "-c:s", "srt", "-metadata:s:s:0", f"language={subtitle_language}"]
    ffmpeg(*inputs, *maps, "-t", "3", "-c:v", "libx264", "-c:a", "aac", "-metadata:s:a:0", "language=eng", str(path))
    if subtitle_language is not None:
        path.with_suffix(".input.srt").unlink()
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", inbox=str(tmp_path / "inbox"))


def media_job(source: Path, options: JobOptions = MEDIA) -> JobFile:
    return JobFile(JOB_ID, f"media/{JOB_ID}.mkv", source.name, JobSource.INBOX.value, options, str(source))


def test_language_tags_and_the_choice_of_the_subtitle_language():
    assert [iso639_1(tag) for tag in ("eng", "ger", "deu", "en-US", "FR", "und", "", None, "../x", "zz")] == [
        "en", "de", "de", "en", "fr", None, None, None, None, None]
    assert subtitle_language("de", "en", 0.99, "fre") == "de"  # the job's language first
    assert subtitle_language(None, "en", 0.9, "fre") == "en"  # then a confident detection
    assert subtitle_language(None, "en", 0.3, "fre") == "fr"  # an uncertain one defers to the track's tag
    assert subtitle_language(None, "en", 0.3, None) == "en"


def test_a_subtitle_in_that_language_beside_the_video_is_found_in_any_spelling(tmp_path):
    stem = "Movie (2020)"
    for name in ("Movie (2020).de.srt", "Movie (2020).srt", "Movie (2020) extras.en.srt", "Movie (2020).en.txt"):
        (tmp_path / name).write_text("x")
    assert existing_subtitle([tmp_path], stem, "en") is None
    for name in ("Movie (2020).EN.sdh.vtt", "Movie (2020).eng.forced.ass", "movie (2020).en.srt"):
        (tmp_path / name).write_text("x")
        assert existing_subtitle([tmp_path, tmp_path / "missing"], stem, "en") == tmp_path / name
        (tmp_path / name).unlink()
    assert existing_subtitle([tmp_path], stem, "de") == tmp_path / "Movie (2020).de.srt"


def test_media_names_put_subtitles_beside_the_video_and_the_rest_in_the_jobs_outputs(settings):
    source = settings.inbox_dir / "Movies" / "Movie (2020).mkv"
    source.parent.mkdir(parents=True)
    paths = media_output_paths(settings, media_job(source), MEDIA.formats, "en")
    outputs = settings.outputs_dir / JOB_ID
    assert paths == {"txt": outputs / "Movie (2020).txt", "json": outputs / "Movie (2020).json",
                     "srt": source.parent / "Movie (2020).en.srt", "vtt": source.parent / "Movie (2020).en.vtt"}
    assert set(media_output_paths(settings, media_job(source), MEDIA.formats, "en", subtitles=False)) == {"txt", "json"}


@pytest.fixture(scope="module")
def movie(tmp_path_factory, media) -> Path:
    return make_movie(tmp_path_factory.mktemp("movies") / "source.mkv", media / "jfk3.wav")


@pytest.fixture(scope="module")
def subtitled_movie(tmp_path_factory, media) -> Path:
    return make_movie(tmp_path_factory.mktemp("movies") / "subtitled.mkv", media / "jfk3.wav", "eng")


def place(app, movie: Path, name: str) -> tuple[JobFile, Path]:
    """``movie`` copied into the inbox as ``name``, its job file, and its queued inbox record."""
    source = app.settings.inbox_dir / name
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(movie, source)
    Ledger(app.store.engine).add(str(source), 1, 1, "0" * 64, InboxFileStatus.QUEUED, JOB_ID)
    return media_job(source), source


def test_the_writer_names_subtitles_for_media_servers_and_never_overwrites(app, movie):
    job, source = place(app, movie, "Movie (2020).mkv")
    warnings: list[str] = []
    written = write_library_results(app.settings, app.store, job, movie, TRANSCRIPT, warnings, {"options": {}})
    subtitle = source.parent / "Movie (2020).en.srt"
    assert subtitle in written and source.parent / "Movie (2020).en.vtt" in written and warnings == []
    assert [" ".join(s.content.split()) for s in srt.parse(subtitle.read_text())] == [" ".join(WORDS)]
    assert sorted(p.name for p in source.parent.iterdir()) == [
        "Movie (2020).en.srt", "Movie (2020).en.vtt", "Movie (2020).mkv"]
    before = subtitle.read_bytes()
    again = write_library_results(app.settings, app.store, job, movie, TRANSCRIPT, warnings, {"options": {}})
    assert subtitle.read_bytes() == before and subtitle not in again  # the second run is skipped, not written
    assert "Movie (2020).en.srt" in warnings[0]


def test_an_existing_subtitle_beside_the_video_skips_it_with_the_reason_in_the_ledger(app, movie):
    job, source = place(app, movie, "Second (2021).mkv")
    (source.parent / "Second (2021).en.srt").write_text("the user's own\n")
    warnings: list[str] = []
    written = write_library_results(app.settings, app.store, job, movie, TRANSCRIPT, warnings, {"options": {}})
    assert [p.suffix for p in written] == [".txt", ".json"] and all(p.parent.name == JOB_ID for p in written)
    assert (source.parent / "Second (2021).en.srt").read_text() == "the user's own\n"
    assert not (source.parent / "Second (2021).en.vtt").exists()
    record = Ledger(app.store.engine).find(str(source), 1, 1)
    assert record.status == "skipped" and "Second (2021).en.srt" in record.reason
    assert warnings == [f"subtitles skipped: {record.reason}; nothing was written beside it"]


def test_an_embedded_subtitle_stream_in_that_language_skips_it(app, subtitled_movie):
    job, source = place(app, subtitled_movie, "Third (2022).mkv")
    warnings: list[str] = []
    written = write_library_results(app.settings, app.store, job, subtitled_movie, TRANSCRIPT, warnings,
                                    {"options": {}})
    assert [p.suffix for p in written] == [".txt", ".json"]
    assert sorted(p.name for p in source.parent.iterdir()) == ["Third (2022).mkv"]
    assert "subtitle stream in this language (en)" in warnings[0]
    german = Transcript("de", 0.99, 3.0, TRANSCRIPT.segments)  # a subtitle of another language is no reason
    written = write_library_results(app.settings, app.store, media_job(source, JobOptions(naming="media", language="de",
                                    formats=("srt",))), subtitled_movie, german, [], {"options": {}})
    assert written == [source.parent / "Third (2022).de.srt"]


# -- with the daemons ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_media_library_folder_gets_exactly_the_files_a_media_server_picks_up(
        app, inbox, ingesters, runners, client, movie, subtitled_movie, tmp_path):
    library = inbox / "Movies"
    library.mkdir()
    (library / ".spoolscribe.toml").write_text('naming = "media"\nformats = ["txt", "srt", "json"]\n')
    (library / "Second (2021).en.srt").write_text("the user's own\n", encoding="utf-8")
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5"})
    second = shutil.copyfile(movie, tmp_path / "second.mkv")
    with open(second, "ab") as handle:  # other bytes than the first: not a duplicate
        handle.write(b"\0" * 16)
    shutil.copyfile(movie, library / "Movie (2020).mkv")
    second.rename(library / "Second (2021).mkv")
    shutil.copyfile(subtitled_movie, library / "Third (2022).mkv")
    wait_for(lambda: app.store.counts()["queued"] == 3, 60, what=f"three queued jobs; log:\n{daemon.log()}")
    runner = runners("r1", "--burst")
    assert runner.wait(timeout=300) == 0, runner.log_path.read_text()
    jobs = {job.original_name: job for job in app.store.list()}
    assert all(job.status == "succeeded" for job in jobs.values()), [job.error for job in jobs.values()]
    assert sorted(p.name for p in library.iterdir()) == [
        ".spoolscribe.toml", "Movie (2020).en.srt", "Movie (2020).mkv", "Second (2021).en.srt", "Second (2021).mkv",
        "Third (2022).mkv"]
    assert "fellow americans" in (library / "Movie (2020).en.srt").read_text(encoding="utf-8").lower()
    assert (library / "Second (2021).en.srt").read_text(encoding="utf-8") == "the user's own\n"
    for name in ("Second (2021).mkv", "Third (2022).mkv"):
        job = jobs[name]
        assert [Path(p).suffix for p in job.outputs] == [".txt", ".json"]
        assert all(Path(p).parent == app.settings.outputs_dir / job.id for p in job.outputs)
        record = Ledger(app.store.engine).newest(str(library / name))
        assert record.status == "skipped" and record.reason
        page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
        assert f"subtitles skipped: {record.reason}" in page
    assert "Second (2021).en.srt" in Ledger(app.store.engine).newest(str(library / "Second (2021).mkv")).reason
    assert Ledger(app.store.engine).newest(str(library / "Movie (2020).mkv")).status == "queued"
    assert daemon.poll() is None and daemon.log().count("queued for") == 3  # the new .en.srt became no job


def test_a_hostile_subtitle_name_is_reported_without_its_control_characters(app, movie):
    job, source = place(app, movie, "Fourth (2023).mkv")
    (source.parent / "Fourth (2023).en.\n\x1b[31m.srt").write_text("x")
    warnings: list[str] = []
    write_library_results(app.settings, app.store, job, movie, TRANSCRIPT, warnings, {"options": {}})
    assert "Fourth (2023).en.??[31m.srt" in warnings[0] and "\n" not in warnings[0]
