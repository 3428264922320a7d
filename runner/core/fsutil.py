"""Files that appear atomically: write to a temporary name, fsync, rename (as Maildir delivers)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
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


def write_all(files: Mapping[Path, bytes], overwrite: bool = True) -> None:
    """Write every file of ``files`` (path to content), all or nothing.

    Each file is first written in full under a hidden temporary name beside its path and fsynced;
    only then are they all moved into place, each by one rename (a hard link with
    ``overwrite=False``). An existing file is kept under a hidden hard link until every file is in
    place, so that if any write or move fails (a full disk, a directory or an immutable file where
    a file is expected, ...) the files moved so far are put back: every path is then as it was
    before (its old content, or no file) and no temporary name is left. The parent directories
    must exist.

    Raises:
        FileExistsError: ``overwrite`` is False and one of the paths exists.
        OSError: a file could not be written, synced or moved into place, or an existing one
            could not be kept aside (a file system without hard links). If an old file could not
            be put back, the error's notes say where its content was kept.
    """
    temporaries: dict[Path, Path] = {}
    kept: dict[Path, Path] = {}  # path -> a hard link to its old file
    placed: list[Path] = []
    try:
        for path, data in files.items():
            temporaries[path] = temporary_name(path)
            with open(temporaries[path], "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for path, tmp in temporaries.items():
            if not overwrite:
                os.link(tmp, path)
            else:
                if os.path.lexists(path):
                    kept[path] = temporary_name(path)
                    os.link(path, kept[path], follow_symlinks=False)
                os.replace(tmp, path)
            placed.append(path)
    except BaseException as exc:  # an interrupt too: never leave half of the files replaced
        _put_back(placed, kept, exc)
        raise
    finally:
        for leftover in [*temporaries.values(), *kept.values()]:
            leftover.unlink(missing_ok=True)
    for directory in {path.parent for path in temporaries}:
        fsync_dir(directory)


def _put_back(placed: list[Path], kept: dict[Path, Path], error: BaseException) -> None:
    """Undo ``write_all``'s moves: each placed path gets its kept old file back, or is removed if
    it had none. An old file that cannot be put back is left under its kept name (taken out of
    ``kept``, so that it is not removed), and a note on ``error`` says where."""
    for path in reversed(placed):
        old = kept.get(path)
        try:
            if old is None:
                path.unlink()
            else:
                os.replace(old, path)
        except OSError as undo:
            if old is None:
                error.add_note(f"{path} could not be removed again ({undo})")
            else:
                del kept[path]
                error.add_note(f"{path} could not be put back ({undo}); its old content is in {old}")


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
