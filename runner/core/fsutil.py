"""Files that appear atomically: write to a temporary name, fsync, rename (as Maildir delivers)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

COPY_CHUNK = 1 << 20  # bytes


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (a rename or unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: Path, temp_dir: Path | None = None) -> Path:
    """A hidden, unique name to write before the rename: beside ``path``, or in ``temp_dir``."""
    return (temp_dir or path.parent) / f".{path.name}.{secrets.token_hex(4)}.tmp"


@contextmanager
def atomic_file(path: Path, overwrite: bool = True, temp_dir: Path | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; on success fsync it and move it to ``path``.

    The temporary file is a hidden sibling of ``path``, or lies in ``temp_dir`` (which must be on
    the same filesystem, like a Maildir's ``tmp/``).

    With ``overwrite=False`` an existing ``path`` is never replaced (the move is a hard link).
    On any error, including a full disk (``OSError`` ENOSPC), the temporary file is removed and
    the error propagates, so no partial file is ever visible under ``path``.

    Raises:
        FileExistsError: ``overwrite`` is False and ``path`` exists.
        OSError: writing, syncing or renaming failed.
    """
    tmp = temporary_name(path, temp_dir)
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: Path, data: bytes, overwrite: bool = True, temp_dir: Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, overwrite=overwrite, temp_dir=temp_dir) as handle:
        handle.write(data)


def copy_stream(source: BinaryIO, target: BinaryIO, limit: int | None = None) -> int:
    """Copy ``source`` to ``target`` in 1 MiB chunks; return the bytes copied.

    Raises:
        ValueError: more than ``limit`` bytes arrived (the caller discards the target).
    """
    total = 0
    while chunk := source.read(COPY_CHUNK):
        total += len(chunk)
        if limit is not None and total > limit:
            raise ValueError(f"more than {limit} bytes")
        target.write(chunk)
    return total


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` when both are on one filesystem, else a copy.

    The copy is written under a temporary name and renamed, so ``target`` appears complete.
    """
    try:
        os.link(source, target)
    except OSError:
        with atomic_file(target) as handle, open(source, "rb") as src:
            shutil.copyfileobj(src, handle, COPY_CHUNK)
