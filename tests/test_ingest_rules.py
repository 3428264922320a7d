"""The inbox's rules, without the daemon: ignored names, per-folder settings, the quiet period."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.core.options import JobOptions
from runner.core.settings import Settings
from runner.ingest.folders import SETTINGS_FILE, FolderOptions, FolderSettingsError
from runner.ingest.rules import IgnoreRules
from runner.ingest.stability import StabilityTracker

INBOX = Path("/srv/inbox")


@pytest.fixture
def rules() -> IgnoreRules:
    defaults = Settings(home=Path("/srv/inbox/.data"))
    return IgnoreRules(INBOX, defaults.inbox_extensions, [Path("/srv/inbox/outbox"), Path("/srv/elsewhere")])


@pytest.mark.parametrize("name", [
    "talk.wav", "TALK.WAV", "interview.m4a", "-lead dash.mp3", "会议 记录 (二).flac", "Réunion (finale).ogg",
    "video.MP4", "a.b.c.opus",
])
def test_media_names_are_wanted(rules, name):
    assert rules.wanted(INBOX / "sub" / name)


@pytest.mark.parametrize("name", [
    ".hidden.wav", "talk.wav.part", "talk.part", "talk.wav.crdownload", "talk.wav.tmp", "talk.filepart",
    "~$talk.wav", ".~lock.talk.wav#", "talk.wav.!sync", ".syncthing.talk.wav.tmp", "talk.wav.partial",
    "TALK.WAV.PART",
    # our own outputs and error files
    "talk.txt", "talk.srt", "talk.vtt", "talk.json", "talk.wav.error.txt", "talk.spoolscribe.srt",
    # not media, or no extension at all
    "notes.docx", "README", "talk.",
])
def test_temporary_names_outputs_and_other_files_are_ignored(rules, name):
    assert not rules.wanted(INBOX / name)


def test_dot_folders_excluded_folders_and_paths_outside_are_ignored(rules):
    assert not rules.wanted(INBOX / ".sync" / "talk.wav")
    assert not rules.wanted(INBOX / "a" / ".Trash-1000" / "b" / "talk.wav")
    assert not rules.wanted(INBOX / "outbox" / "talk.wav")
    assert not rules.wanted(INBOX / ".data" / "spool" / "media" / "x.wav")
    assert not rules.wanted(Path("/srv/other/talk.wav"))
    assert rules.wanted(INBOX / "outboxes" / "talk.wav")


def test_configured_extensions_never_include_output_formats():
    rules = IgnoreRules(INBOX, ["WAV", ".json", "txt"])
    assert rules.wanted(INBOX / "a.wav")
    assert not rules.wanted(INBOX / "a.json") and not rules.wanted(INBOX / "a.txt")


# -- per-folder settings -----------------------------------------------------------------------------

def write_settings(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SETTINGS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_folder_settings_apply_below_their_folder_and_the_nearest_wins(tmp_path):
    write_settings(tmp_path, 'formats = ["txt", "srt"]\nvad = false\n')
    write_settings(tmp_path / "mandarin", 'language = "zh"\nprompt = "以下是普通话的句子。"\nformats = "txt"\n')
    write_settings(tmp_path / "mandarin" / "english", 'language = "en"\n')
    folders = FolderOptions(tmp_path, JobOptions(formats=("txt", "srt", "vtt", "json")))

    top = folders.options_for(tmp_path / "a.wav")
    assert (top.language, top.formats, top.vad_filter, top.initial_prompt) == (None, ("txt", "srt"), False, None)
    mandarin = folders.options_for(tmp_path / "mandarin" / "deeper" / "b.wav")
    assert (mandarin.language, mandarin.formats, mandarin.initial_prompt) == ("zh", ("txt",), "以下是普通话的句子。")
    assert mandarin.vad_filter is False  # inherited from the inbox's own file
    english = folders.options_for(tmp_path / "mandarin" / "english" / "c.wav")
    assert (english.language, english.initial_prompt) == ("en", "以下是普通话的句子。")
    sibling = folders.options_for(tmp_path / "other" / "d.wav")
    assert sibling.language is None and sibling.formats == ("txt", "srt")


def test_a_folder_can_ask_for_speakers(tmp_path):
    write_settings(tmp_path / "meetings", "diarize = true\nmin_speakers = 2\nmax_speakers = 6\n")
    options = FolderOptions(tmp_path, JobOptions()).options_for(tmp_path / "meetings" / "monday.m4a")
    assert (options.diarize, options.num_speakers, options.min_speakers, options.max_speakers) == (True, None, 2, 6)


def test_a_changed_settings_file_is_read_again(tmp_path):
    path = write_settings(tmp_path / "f", 'language = "de"\n')
    folders = FolderOptions(tmp_path, JobOptions())
    assert folders.options_for(tmp_path / "f" / "a.wav").language == "de"
    path.write_text('language = "fr"\ntask = "translate"\n', encoding="utf-8")
    options = folders.options_for(tmp_path / "f" / "a.wav")
    assert (options.language, options.task) == ("fr", "translate")
    path.unlink()
    assert folders.options_for(tmp_path / "f" / "a.wav").language is None


@pytest.mark.parametrize("text, message", [
    ('language = "klingon"\n', "unknown language"),
    ('langauge = "de"\n', "unknown option(s) langauge"),
    ('vad = "maybe"\n', "vad must be true or false"),
    ('formats = ["txt", "docx"]\n', "unknown output format"),
    ("formats = 3\n", "formats must be a list"),
    ('language = "de\n', "not valid TOML"),
    ("model = 1\n", "model must be text"),
    ("diarize = true\nnum_speakers = 2.5\n", "num_speakers must be a whole number"),
    ("max_speakers = 3\n", "max_speakers needs diarize"),
])
def test_an_invalid_settings_file_is_named_with_the_reason(tmp_path, text, message):
    path = write_settings(tmp_path / "bad", text)
    folders = FolderOptions(tmp_path, JobOptions())
    with pytest.raises(FolderSettingsError) as raised:
        folders.options_for(tmp_path / "bad" / "sub" / "a.wav")
    assert raised.value.path == path
    assert str(path) in str(raised.value) and message in str(raised.value)
    assert folders.options_for(tmp_path / "fine" / "a.wav") == JobOptions()


# -- the quiet period ----------------------------------------------------------------------------------

def test_a_file_is_due_only_after_its_quiet_period_and_a_change_starts_it_again():
    tracker = StabilityTracker(quiet=5.0, close_quiet=1.0)
    tracker.observe("a", (10, 1, 7), now=100.0, written=True)
    assert tracker.due(104.9) == [] and tracker.next_due() == 105.0
    tracker.observe("a", (20, 2, 7), now=103.0)  # it grew: the quiet period starts again
    assert tracker.due(107.9) == []
    assert tracker.due(108.0) == ["a"]
    assert not tracker.confirm("a", (30, 3, 7), now=108.0)  # it changed since: not stable after all
    assert tracker.due(112.9) == [] and tracker.due(113.0) == ["a"]
    assert tracker.confirm("a", (30, 3, 7), now=113.0)
    assert "a" not in tracker and len(tracker) == 0


def test_a_close_after_write_shortens_the_quiet_period_but_never_skips_it():
    tracker = StabilityTracker(quiet=5.0, close_quiet=1.0)
    tracker.observe("a", (10, 1, 7), now=100.0, written=True)
    tracker.observe("a", (10, 1, 7), now=100.1, closed=True)
    assert tracker.due(100.9) == [] and tracker.due(101.0) == ["a"]
    tracker.observe("a", (11, 2, 7), now=101.5, written=True)  # written again: the full period again
    assert tracker.due(106.4) == [] and tracker.due(106.5) == ["a"]
    assert StabilityTracker(quiet=0.5, close_quiet=2.0).close_quiet == 0.5


def test_an_event_restarts_the_quiet_period_even_when_the_stat_looks_the_same():
    tracker = StabilityTracker(quiet=2.0, close_quiet=2.0)
    tracker.observe("a", (10, 1, 7), now=0.0)
    tracker.observe("a", (10, 1, 7), now=1.5)  # a rescan: nothing new
    assert tracker.due(2.0) == ["a"]
    tracker.observe("a", (10, 1, 7), now=1.9, written=True)  # a write within the mtime's granularity
    assert tracker.due(3.8) == [] and tracker.due(3.9) == ["a"]


def test_forgetting_files_and_folders():
    tracker = StabilityTracker(quiet=1.0, close_quiet=1.0)
    for path in ("/i/a/x.wav", "/i/a/b/y.wav", "/i/ab/z.wav"):
        tracker.observe(path, (1, 1, 1), now=0.0)
    tracker.forget_below("/i/a")
    assert tracker.due(5.0) == ["/i/ab/z.wav"]
    tracker.forget("/i/ab/z.wav")
    assert tracker.next_due() is None
