"""Renaming a finished job's speakers: every output is rendered again from its JSON output.

The JSON output is the job's full record (segments, words, speakers, turns and the job's metadata),
so the other formats are re-made from it rather than edited as text. No torch, no faster-whisper:
the web calls this.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runner.core.transcript import Segment, Transcript, Turn
from runner.output.formats import RENDERERS, transcript_document
from runner.output.speakers import clean_names, rename_transcript, speakers_of
from runner.output.writing import write_outputs

_TRANSCRIPT_KEYS = frozenset(transcript_document(Transcript(None, None, 0.0, turns=()), {}))


def transcript_from_document(document: Mapping[str, Any]) -> tuple[Transcript, dict[str, Any]]:
    """Inverse of ``runner.output.formats.transcript_document``: the transcript, and the metadata
    (job id, file, model, options, ...) it was written with.

    Raises:
        KeyError, TypeError, ValueError: the document is not a spoolscribe transcript.
    """
    turns = document.get("turns")
    transcript = Transcript(
        document["language"], document["language_probability"], float(document["duration"]),
        tuple(Segment.from_dict(segment) for segment in document["segments"]),
        None if turns is None else tuple(Turn.from_dict(turn) for turn in turns))
    return transcript, {key: value for key, value in document.items() if key not in _TRANSCRIPT_KEYS}


def read_transcript(path: Path) -> tuple[Transcript, dict[str, Any]]:
    """The transcript and metadata of the JSON output at ``path``.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a spoolscribe JSON transcript.
    """
    try:
        return transcript_from_document(json.loads(path.read_bytes().decode("utf-8")))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path.name} is not a spoolscribe transcript ({type(exc).__name__}: {exc})") from None


def rename_speakers(outputs: Iterable[Path], names: Mapping[str, str]) -> dict[str, str]:
    """Rename speakers in a job's outputs: ``names`` maps a current speaker (a ``SPEAKER_NN``
    label or a name given before) to its new name; the JSON output among ``outputs`` is read,
    and every output of a known format (txt, srt, vtt, json, rttm) is written again, all or none.
    Returns the renames applied (empty and unchanged names left out).

    Raises:
        FileNotFoundError: no JSON output among ``outputs`` (it holds what the others are made from).
        runner.output.speakers.SpeakerNameError: an unknown speaker or an unusable name.
        ValueError: the JSON output is not a spoolscribe transcript.
        OSError: an output cannot be read or written (none is changed then).
    """
    paths = {path.suffix[1:]: path for path in map(Path, outputs) if path.suffix[1:] in RENDERERS}
    if "json" not in paths:
        raise FileNotFoundError("speakers can be renamed only in a job with a json output")
    transcript, metadata = read_transcript(paths["json"])
    applied = clean_names(names, speakers_of(transcript))
    if applied:
        write_outputs(rename_transcript(transcript, applied), paths, metadata)
    return applied
