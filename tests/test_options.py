"""Job options: one parser, one set of names, for every way in (CLI, upload API, folder settings,
job files in the spool); the old spellings still work, and a bad option reads the same everywhere."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runner.cli.main import main
from runner.core.options import ALIASES, OPTION_NAMES, JobOptions, OptionsError
from runner.core.spool import JobFile, JobFileError, new_job_id
from runner.ingest.folders import SETTINGS_FILE, FolderOptions, FolderSettingsError

DATA = Path(__file__).parent / "data"
AUDIO = DATA / "jfk.flac"
WANTED = JobOptions(language="de", task="translate", formats=("txt", "srt"), initial_prompt="Müller, Kennedy",
                    hotwords="spoolscribe", vad_filter=False, word_timestamps=False, diarize=True,
                    min_speakers=2, max_speakers=4)


def via_cli(app, *flags: str) -> tuple[int, str, JobOptions | None]:
    """``spoolscribe submit FLAGS jfk.flac`` in process: (exit code, output, the queued job's options)."""
    result = CliRunner().invoke(main, ["--home", str(app.settings.home), "submit", *flags, str(AUDIO)],
                                 prog_name="spoolscribe")
    job_ids = result.stdout.split()
    options = JobOptions.from_mapping(app.store.get(job_ids[0]).options) if result.exit_code == 0 else None
    return result.exit_code, result.output, options


def via_folder(tmp_path: Path, text: str) -> JobOptions:
    """The options a ``.spoolscribe.toml`` of ``text`` gives a file below it (raises FolderSettingsError)."""
    folder = tmp_path / "inbox" / "talks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SETTINGS_FILE).write_text(text, encoding="utf-8")
    return FolderOptions(tmp_path / "inbox", JobOptions()).options_for(folder / "week 1" / "talk.wav")


def job_file_options(app, options: object) -> JobOptions:
    """Write a job file with ``options`` as its options object into ``new/`` and read it back."""
    job_id = new_job_id()
    with open(AUDIO, "rb") as source:
        media = app.spool.store_media_file(job_id, AUDIO.name, source)
    document = json.loads(JobFile(job_id, media, "talk.flac", "cli", JobOptions()).to_json())
    (app.spool.new / f"{job_id}.json").write_text(json.dumps({**document, "options": options}), encoding="utf-8")
    return app.spool.read(app.spool.new / f"{job_id}.json").options


def refusal(mapping: dict[str, object]) -> str:
    """The message the one parser gives for ``mapping``."""
    with pytest.raises(OptionsError) as raised:
        JobOptions.from_mapping(mapping)
    return str(raised.value)


COMMON_FLAGS = ("--language", "de", "--task", "translate", "--hotwords", "spoolscribe", "--no-word-timestamps",
                "--diarize", "--min-speakers", "2", "--max-speakers", "4")
COMMON_TOML = ('language = "de"\ntask = "translate"\nhotwords = "spoolscribe"\nword_timestamps = false\n'
               "diarize = true\nmin_speakers = 2\nmax_speakers = 4\n")
SPELLINGS = {  # the rest of WANTED, under the canonical names, then under the old ones
    "canonical": (("--formats", "srt,txt", "--initial-prompt", "Müller, Kennedy", "--no-vad-filter"),
                  {"formats": "srt,txt", "initial_prompt": "Müller, Kennedy", "vad_filter": "false",
                   "word_timestamps": "false", "diarize": "true", "num_speakers": ""},
                  'formats = ["srt", "txt"]\ninitial_prompt = "Müller, Kennedy"\nvad_filter = false\n'),
    "aliases": (("--format", "srt,txt", "--prompt", "Müller, Kennedy", "--no-vad"),
                {"format": "srt,txt", "prompt": "Müller, Kennedy", "vad": "off", "word_timestamps": "0",
                 "diarize": "yes"},
                'format = "srt,txt"\nprompt = "Müller, Kennedy"\nvad = false\n'),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_way_in_gives_the_same_options(app, upload, tmp_path, spelling):
    flags, fields, toml = SPELLINGS[spelling]
    code, output, from_cli = via_cli(app, *COMMON_FLAGS, *flags)
    assert code == 0, output
    response = upload(AUDIO, language="de", task="translate", hotwords="spoolscribe", min_speakers="2",
                      max_speakers="4", **fields)
    assert response.status_code == 201, response.json
    from_folder = via_folder(tmp_path, COMMON_TOML + toml)
    assert from_cli == JobOptions.from_mapping(response.json["options"]) == from_folder == WANTED
    assert response.json["options"] == WANTED.to_dict()  # stored under the canonical names only
    assert app.spool.read(app.spool.new / f"{response.json['id']}.json").options == WANTED  # its job file
    assert job_file_options(app, WANTED.to_dict()) == WANTED


def test_repeated_format_fields_are_one_list(upload):
    response = upload(AUDIO, formats=["vtt", "txt"])
    assert response.status_code == 201 and response.json["options"]["formats"] == ["txt", "vtt"]
    twice = upload(AUDIO, language=["de", "fr"])
    assert twice.status_code == 400 and twice.json["error"] == "language must be text, got ['de', 'fr']"


def test_an_unknown_option_reads_the_same_everywhere(app, upload, tmp_path):
    message = refusal({"colour": "blue"})
    assert message.startswith("unknown option(s) colour; the options are language, task, model, formats,")
    assert "prompt for initial_prompt" in message and "vad for vad_filter" in message
    response = upload(AUDIO, colour="blue")
    assert response.status_code == 400 and response.json["error"] == message
    with pytest.raises(FolderSettingsError) as raised:
        via_folder(tmp_path, 'colour = "blue"\n')
    assert str(raised.value) == f"{raised.value.path}: {message}"
    with pytest.raises(JobFileError, match="^invalid options: unknown option"):
        job_file_options(app, {"colour": "blue"})
    code, output, _ = via_cli(app, "--colour", "blue")  # click knows its flags: its own message
    assert code == 2 and "No such option '--colour'" in output
    assert app.store.list() == []  # neither the API nor the CLI queued a job


@pytest.mark.parametrize("flags, fields, toml, mapping", [
    (["--task", "summarise"], {"task": "summarise"}, 'task = "summarise"', {"task": "summarise"}),
    (["--language", "klingon"], {"language": "klingon"}, 'language = "klingon"', {"language": "klingon"}),
    (["--formats", "srt,docx"], {"formats": "srt,docx"}, 'formats = ["srt", "docx"]', {"formats": "srt,docx"}),
    (["--diarize", "--num-speakers", "two"], {"diarize": "true", "num_speakers": "two"},
     'diarize = true\nnum_speakers = "two"', {"diarize": True, "num_speakers": "two"}),
    (["--diarize", "--num-speakers", "0"], {"diarize": "true", "num_speakers": "0"},
     "diarize = true\nnum_speakers = 0", {"diarize": True, "num_speakers": 0}),
    (["--max-speakers", "3"], {"max_speakers": "3"}, "max_speakers = 3", {"max_speakers": 3}),
])
def test_a_bad_value_reads_the_same_everywhere(app, upload, tmp_path, flags, fields, toml, mapping):
    message = refusal(mapping)
    code, output, _ = via_cli(app, *flags)
    assert code == 2 and f"Error: {message}\n" in output
    response = upload(AUDIO, **fields)
    assert response.status_code == 400 and response.json["error"] == message
    with pytest.raises(FolderSettingsError) as raised:
        via_folder(tmp_path, toml + "\n")
    assert str(raised.value) == f"{raised.value.path}: {message}"
    with pytest.raises(JobFileError) as refused:
        job_file_options(app, mapping)
    assert str(refused.value) == f"invalid options: {message}"
    assert app.store.list() == []


@pytest.mark.parametrize("given, wanted", [
    *((word, True) for word in ("true", "1", "yes", "on", "TRUE", " On ")),
    *((word, False) for word in ("false", "0", "no", "off", "False")),
    (True, True), (False, False),
])
def test_booleans_take_words_and_values(given, wanted):
    assert JobOptions.from_mapping({"word_timestamps": given}).word_timestamps is wanted


@pytest.mark.parametrize("mapping, words", [
    ({"vad_filter": "maybe"}, "vad_filter must be true or false (or yes/no, on/off, 1/0), got 'maybe'"),
    ({"vad": 1}, "vad must be true or false"),
    ({"model": 1}, "model must be text, got 1"),
    ({"formats": 3}, 'formats must be a list of formats such as ["txt", "srt"] or "txt,srt", got 3'),
    ({"diarize": True, "num_speakers": 2.5}, "num_speakers must be a whole number from 1 to 100, got 2.5"),
    ({"diarize": True, "num_speakers": True}, "num_speakers must be a whole number"),
    ({"prompt": "a", "initial_prompt": "b"}, "give prompt or initial_prompt, not both"),
    ({"formats": "txt", "format": "srt"}, "give formats or format, not both"),
])
def test_values_of_the_wrong_kind_are_refused_by_name(mapping, words):
    assert words in refusal(mapping)


def test_not_given_means_the_default():
    assert JobOptions.from_mapping({}) == JobOptions()
    assert JobOptions.from_mapping(dict.fromkeys(OPTION_NAMES)) == JobOptions()
    assert JobOptions.from_mapping({"diarize": "on", "num_speakers": " 3 ", "min_speakers": ""}).num_speakers == 3
    with pytest.raises(OptionsError, match="options must be an object of names and values, got list"):
        JobOptions.from_mapping(["language"])  # type: ignore[arg-type]


def test_job_files_of_older_versions_still_load(app):
    # as the first version wrote them, before diarization
    first = {"language": "en", "task": "transcribe", "model": None, "formats": ["txt", "srt"],
             "initial_prompt": "Kennedy", "hotwords": None, "vad_filter": False, "word_timestamps": True}
    assert job_file_options(app, first) == JobOptions(language="en", formats=("txt", "srt"),
                                                      initial_prompt="Kennedy", vad_filter=False)
    diarized = {**first, "diarize": True, "num_speakers": 2, "min_speakers": None, "max_speakers": None}
    assert job_file_options(app, diarized) == JobOptions.from_mapping(diarized)
    current = {**diarized, "max_line_length": 42, "max_lines": 2, "max_cue_seconds": 7.0, "max_cps": 20.0,
               "naming": "standard", "audio_track": None, "channels": "mix"}  # came later: defaults
    assert JobOptions.from_mapping(diarized).to_dict() == current
    assert job_file_options(app, {**current, "max_lines": 0}) == JobOptions.from_mapping({**current, "max_lines": 0})


def test_openapi_lists_the_names_and_the_aliases(client):
    document = yaml.safe_load(client.get("/static/openapi.yaml").data)
    stored = document["components"]["schemas"]["Job"]["properties"]["options"]["properties"]
    assert tuple(stored) == OPTION_NAMES
    form = document["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"file", "callback_url", *OPTION_NAMES, *ALIASES}
    for alias, name in ALIASES.items():
        assert form["properties"][alias]["deprecated"] is True
        assert form["properties"][alias]["description"] == f"alias of {name}"


def test_cue_limits_and_naming_the_same_by_every_way_in(app, upload, tmp_path):
    wanted = JobOptions(max_line_length=37, max_lines=1, max_cue_seconds=5.5, max_cps=17.0)
    code, output, options = via_cli(app, "--max-line-length", "37", "--max-lines", "1", "--max-cue-seconds", "5.5",
                                    "--max-cps", "17")
    assert code == 0 and options == wanted, output
    response = upload(AUDIO, max_line_length="37", max_lines="1", max_cue_seconds="5.5", max_cps="17")
    assert JobOptions.from_mapping(response.json["options"]) == wanted
    folder = via_folder(tmp_path, 'max_line_length = 37\nmax_lines = 1\nmax_cue_seconds = 5.5\nmax_cps = 17\n'
                                  'naming = "media"\n')
    assert folder == dataclasses.replace(wanted, naming="media")
    assert JobOptions.from_mapping({"max_lines": 0, "max_cps": 0}).max_cps == 0.0  # 0: no limit
    message = "max_line_length must be 0 (no limit) or from 10 to 200, got 300"
    assert via_cli(app, "--max-line-length", "300")[0] == 2 and message in via_cli(app, "--max-line-length", "300")[1]
    assert message in upload(AUDIO, max_line_length="300").json["error"]
    with pytest.raises(FolderSettingsError, match='naming must be one of standard, media'):
        via_folder(tmp_path, 'naming = "plex"\n')
    assert upload(AUDIO, max_cps="", max_lines=" ").json["options"]["max_cps"] == 20.0  # a cleared form field


def test_audio_track_the_same_by_every_way_in(app, upload, tmp_path):
    """A track number or a language tag, by CLI, upload, folder settings and job file alike."""
    assert via_cli(app, "--audio-track", "2")[2] == JobOptions(audio_track=2)
    assert via_cli(app, "--audio-track", "GER")[2] == JobOptions(audio_track="ger")
    assert upload(AUDIO, audio_track="2").json["options"]["audio_track"] == 2
    assert upload(AUDIO, audio_track="de").json["options"]["audio_track"] == "de"
    assert upload(AUDIO, audio_track="").json["options"]["audio_track"] is None  # an empty form field
    assert via_folder(tmp_path, "audio_track = 3\n") == JobOptions(audio_track=3)
    assert via_folder(tmp_path, 'audio_track = "eng"\n') == JobOptions(audio_track="eng")
    assert JobOptions.from_mapping(JobOptions(audio_track="de").to_dict()) == JobOptions(audio_track="de")
    wording = "audio_track must be a track number from 1 to 100 (1 is the first audio track) or a language tag " \
              "such as en, deu or ger, got "
    for given, shown in (("0", "0"), ("-1", "-1"), ("+101", "101"), ("english", "'english'")):
        code, output, _ = via_cli(app, "--audio-track", given)
        assert code == 2 and wording + shown in output, output
        assert upload(AUDIO, audio_track=given).json["error"] == wording + shown
    with pytest.raises(FolderSettingsError, match=re.escape(wording + "1.5")):
        via_folder(tmp_path, "audio_track = 1.5\n")
    code, output, _ = via_cli(app, "--audio-track", " ")  # empty on a command line: a mistake, not the default
    assert code == 2 and "Invalid value for '--audio-track': it is empty: leave the flag out for the default" in output


def test_channels_and_multi_the_same_by_every_way_in(app, upload, tmp_path):
    wanted = JobOptions(channels="separate", language="multi")
    code, output, options = via_cli(app, "--channels", "separate", "--language", "multi")
    assert code == 0 and options == wanted, output
    assert JobOptions.from_mapping(upload(AUDIO, channels="separate", language="multi").json["options"]) == wanted
    assert via_folder(tmp_path, 'channels = "separate"\nlanguage = "multi"\n') == wanted
    assert via_cli(app, "--channels", "both")[0] == 2
    assert "channels must be one of mix, separate" in upload(AUDIO, channels="both").json["error"]
    with pytest.raises(FolderSettingsError, match="not both"):
        via_folder(tmp_path, 'channels = "separate"\ndiarize = true\n')
