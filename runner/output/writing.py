"""Writing a job's output files: every format rendered first, then the files written together, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runner.core.fsutil import write_all
from runner.core.transcript import Transcript
from runner.output.formats import RENDERERS
from runner.output.timing import fit_to_audio


def outputs_by_format(outputs: Iterable[Path | str]) -> dict[str, Path]:
    """The paths among ``outputs`` of a known format (txt, srt, vtt, json, rttm), by format: the
    files a job's JSON output renders again (a rename, an edit).

    Raises:
        FileNotFoundError: no JSON output among them (it holds what the others are made from).
    """
    found = {path.suffix[1:]: path for path in map(Path, outputs) if path.suffix[1:] in RENDERERS}
    if "json" not in found:
        raise FileNotFoundError("the job has no json output, which its other outputs are made from")
    return found


def write_outputs(transcript: Transcript, paths: dict[str, Path], metadata: dict[str, Any],
                  overwrite: bool = True) -> list[Path]:
    """Render ``transcript`` in every format (``paths``: format name to path), then write the files
    all or nothing (``runner.core.fsutil.write_all``: every file written under a temporary name and
    fsynced first, then all moved into place); return the paths. Missing parent directories are made.
    The transcript is fitted to its audio first (``runner.output.timing.fit_to_audio``), whatever it
    holds: no output has a time outside the audio, an end before its start, or cues out of order.

    If one file cannot be written or moved, every path is left as it was: the old outputs intact
    (a rewrite, such as renaming speakers), or no file (a first write). With ``overwrite=False``
    an existing file is never replaced.

    Raises:
        FileExistsError: ``overwrite`` is False and one of the paths exists (nothing is left written).
        OSError: a file could not be written or moved (ENOSPC included); no path was changed.
    """
    fitted = fit_to_audio(transcript).transcript
    rendered = {path: RENDERERS[fmt](fitted, metadata).encode("utf-8") for fmt, path in paths.items()}
    for path in rendered:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_all(rendered, overwrite=overwrite)
    return list(rendered)
