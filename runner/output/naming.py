"""How a job's output files are named: the stem from the original file name, the formats written,
and ``<directory>/<stem>.<format>`` paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from runner.core.transcript import Transcript

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


def output_formats(formats: tuple[str, ...], transcript: Transcript) -> tuple[str, ...]:
    """The formats to write for a job that asked for ``formats``: those, and ``rttm`` when the
    transcript was diarized (``transcript.turns`` is not None)."""
    return formats if transcript.turns is None else (*formats, "rttm")
