"""Where a job's output files go and how they are named; writing them atomically."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runner.formats import RENDERERS
from runner.fsutil import atomic_write
from runner.transcript import Transcript

MAX_STEM_BYTES = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_stem(original_name: str, fallback: str) -> str:
    """The output file stem for an original file name: its last path component without the
    extension, control characters and separators replaced by ``_``, at most 200 UTF-8 bytes.
    Unicode, spaces, parentheses and a leading dash are kept. Empty or dot-only names give ``fallback``."""
    name = re.split(r"[/\\]", original_name)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _UNSAFE.sub("_", stem).strip()
    encoded = stem.encode("utf-8")[:MAX_STEM_BYTES]
    stem = encoded.decode("utf-8", errors="ignore").strip()
    return fallback if stem.strip(".") == "" else stem


def output_paths(directory: Path, stem: str, formats: Iterable[str]) -> dict[str, Path]:
    """``{format: directory/<stem>.<format>}`` in the given order."""
    return {fmt: directory / f"{stem}.{fmt}" for fmt in formats}


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
