"""A job's outputs are written all or nothing: every new file is written under a temporary name
first, then all are moved into place; a failure at either step leaves every old output as it was,
byte for byte, and no temporary behind. Failures are real: a full file system (a tmpfs), a directory
where a file is expected, a name taken meanwhile."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runner.core.transcript import Segment, Transcript, Turn, Word
from runner.output.formats import RENDERERS
from runner.output.naming import output_paths
from runner.output.relabel import rename_speakers
from runner.output.speakers import assign_speakers
from runner.output.writing import write_outputs

FORMATS = tuple(RENDERERS)  # txt, srt, vtt, json, rttm: the order they are moved into place
PAGE = 4096  # bytes; tmpfs allocates whole pages, and every output here fits in one


@pytest.fixture
def dialogue() -> Transcript:
    words = (Word(0.0, 0.5, " Hi,", 0.9), Word(0.6, 2.0, " Diane.", 0.9), Word(5.5, 7.0, " Hello.", 0.8))
    segments = (Segment(0.0, 2.0, "Hi, Diane.", words[:2]), Segment(5.5, 7.0, "Hello.", words[2:]))
    return assign_speakers(Transcript("en", 0.99, 12.0, segments), (Turn(0.0, 5.0, "A"), Turn(5.0, 10.0, "B")))


def contents(directory: Path) -> dict[str, bytes | None]:
    """Every name in ``directory`` (temporaries included) with its bytes (None for a directory)."""
    return {path.name: None if path.is_dir() else path.read_bytes() for path in directory.iterdir()}


def write_first(directory: Path, transcript: Transcript) -> dict[str, Path]:
    paths = output_paths(directory, "talk", FORMATS)
    assert write_outputs(transcript, paths, {"job_id": "J1", "file": "talk.wav"}) == list(paths.values())
    return paths


def test_a_directory_where_an_output_belongs_leaves_every_old_output_intact(dialogue, tmp_path):
    paths = write_first(tmp_path, dialogue)
    paths["rttm"].unlink()
    paths["rttm"].mkdir()  # the last to be moved into place: the four before it have been replaced
    before = contents(tmp_path)
    with pytest.raises(OSError) as caught:
        rename_speakers(paths.values(), {"SPEAKER_01": "Sheila"})
    assert caught.value.errno in (errno.EPERM, errno.EISDIR)
    assert contents(tmp_path) == before

    paths["rttm"].rmdir()
    assert rename_speakers(paths.values(), {"SPEAKER_01": "Sheila"}) == {"SPEAKER_01": "Sheila"}
    after = contents(tmp_path)
    assert sorted(after) == sorted(path.name for path in paths.values())
    assert all(b"Sheila" in after[path.name] for path in paths.values())
    assert after["talk.txt"] == before["talk.txt"].replace(b"[SPEAKER_01]", b"[Sheila]")


def test_a_full_file_system_while_writing_leaves_every_old_output_intact(dialogue, tmp_path, tmpfs):
    directory = tmpfs(tmp_path / "small", "64k")
    paths = write_first(directory, dialogue)
    before = contents(directory)
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle, pytest.raises(OSError) as full:
        while True:  # until it holds every free page
            handle.write(bytes(PAGE))
    assert full.value.errno == errno.ENOSPC
    os.truncate(filler, os.path.getsize(filler) // PAGE * PAGE - 2 * PAGE)
    before["filler"] = filler.read_bytes()
    # room for two of the five new files: the third write fails before anything is moved
    with pytest.raises(OSError) as caught:
        rename_speakers(paths.values(), {"SPEAKER_00": "Diane"})
    assert caught.value.errno == errno.ENOSPC
    assert contents(directory) == before

    filler.unlink()
    assert rename_speakers(paths.values(), {"SPEAKER_00": "Diane"}) == {"SPEAKER_00": "Diane"}
    assert sorted(contents(directory)) == sorted(path.name for path in paths.values())
    assert b"<v Diane>Hi, Diane.</v>" in paths["vtt"].read_bytes()


def test_a_first_write_that_may_not_overwrite_leaves_no_file_when_a_name_is_taken(dialogue, tmp_path):
    paths = output_paths(tmp_path, "talk", FORMATS)
    paths["json"].write_bytes(b"someone else's file\n")
    with pytest.raises(FileExistsError):
        write_outputs(dialogue, paths, {}, overwrite=False)
    assert contents(tmp_path) == {"talk.json": b"someone else's file\n"}

    paths["json"].unlink()
    assert write_outputs(dialogue, paths, {}, overwrite=False) == list(paths.values())
    assert sorted(contents(tmp_path)) == sorted(path.name for path in paths.values())
