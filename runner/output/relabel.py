"""Renaming a finished job's speakers: every output is rendered again from its JSON output.

The JSON output is the job's full record (segments, words, speakers, turns and the job's metadata),
so the other formats are re-made from it rather than edited as text. No torch, no faster-whisper:
the web calls this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from runner.core.transcript import Transcript, read_transcript
from runner.output.speakers import clean_names, rename_transcript, speakers_of
from runner.output.writing import outputs_by_format, write_outputs


def rename_speakers(outputs: Iterable[Path], names: Mapping[str, str]) -> dict[str, str]:
    """Rename speakers in a job's outputs: ``names`` maps a current speaker (a ``SPEAKER_NN``
    label or a name given before) to its new name; the JSON output among ``outputs`` is read,
    and every output of a known format (txt, srt, vtt, json, rttm) is written again, all or none.
    Returns the renames applied (empty and unchanged names left out).

    Raises:
        FileNotFoundError: no JSON output among ``outputs`` (it holds what the others are made from).
        runner.output.speakers.SpeakerNameError: an unknown speaker or an unusable name.
        runner.core.transcript.TranscriptFileError: the JSON output is not a spoolscribe transcript.
        OSError: an output cannot be read or written (none is changed then).
    """
    paths = outputs_by_format(outputs)
    transcript, metadata = read_transcript(paths["json"])
    renamed, applied = with_names(transcript, names)
    if renamed is not None:
        write_outputs(renamed, paths, metadata)
    return applied


def with_names(transcript: Transcript, names: Mapping[str, str]) -> tuple[Transcript | None, dict[str, str]]:
    """``transcript`` with the speakers renamed as ``names`` asks (see ``rename_speakers``) and the
    renames applied; None instead of a transcript when no rename is left.

    Raises:
        runner.output.speakers.SpeakerNameError: an unknown speaker or an unusable name.
    """
    applied = clean_names(names, speakers_of(transcript))
    return (rename_transcript(transcript, applied) if applied else None), applied
