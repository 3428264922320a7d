"""Writing a job's output files: every format rendered first, then written atomically, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.core.fsutil import atomic_write
from runner.core.transcript import Transcript
from runner.output.formats import RENDERERS


def write_outputs(transcript: Transcript, paths: dict[str, Path], metadata: dict[str, Any],
                  overwrite: bool = True) -> list[Path]:
    """Render ``transcript`` in every format, then write each file atomically (UTF-8); return the paths.

    All or nothing: if one file cannot be written, those already written are removed again.
    With ``overwrite=False`` an existing file is never replaced.

    Raises:
        FileExistsError: ``overwrite`` is False and one of the paths exists (nothing is left written).
        OSError: a file could not be written (ENOSPC included); no partial file is left.
    """
    rendered = {path: RENDERERS[fmt](transcript, metadata).encode("utf-8") for fmt, path in paths.items()}
    written: list[Path] = []
    try:
        for path, data in rendered.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, overwrite=overwrite)
            written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
