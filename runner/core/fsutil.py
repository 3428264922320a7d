"""Files that appear atomically: write to a temporary name, fsync, rename (as Maildir delivers);
files that are read safely: opened once without following a symbolic link, checked on the descriptor."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from runner.core.text import printable

COPY_CHUNK = 1 << 20  # bytes
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int): share the source's extents (Python 3.12 names it)
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
"""How a file from outside is opened: never through a symbolic link, and a FIFO cannot block the open."""
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")
"""The names ``temporary_name`` makes (and only they): ``.<name>.<8 hex digits>.tmp``."""


class UnsafeFileError(OSError):
    """A file that must not be read: a symbolic link, not a regular file, or one that fails an
    owner or link-count check. ``filename`` is the path; the message says what is wrong."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(errno.EPERM, reason, str(path))

    def __str__(self) -> str:
        return f"{self.filename} {self.strerror}"


class UnusableNameError(UnsafeFileError):
    """A file whose path holds bytes that are not UTF-8 (a name from another encoding): it cannot go
    into the job store or a job file. ``filename`` is the path; the message names it, escaped."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "its name is not valid UTF-8; rename it")

    def __str__(self) -> str:
        return f"{printable(self.filename)}: {self.strerror}"


def check_utf8_path(path: Path | str) -> None:
    """Refuse a path that is not valid UTF-8 (its string holds ``surrogateescape`` stand-ins, PEP 383).

    Raises:
        UnusableNameError: it is not.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UnusableNameError(path) from None


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


def open_regular(path: Path | str) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file for reading without following a symbolic link in its last component
    (``O_NOFOLLOW``; ``O_NONBLOCK``, so a FIFO put in its place cannot hang the open); return the
    open binary file and ``os.fstat`` of its descriptor, which every later check must use.

    Raises:
        UnsafeFileError: ``path`` is a symbolic link or not a regular file (a FIFO, a device, a directory).
        OSError: it cannot be opened (FileNotFoundError, PermissionError, ...).
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(path, "is a symbolic link; only regular files are read") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(path, "is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


def same_version(before: os.stat_result, after: os.stat_result) -> bool:
    """True when two stats are of the same file, unchanged: device, inode, size, mtime and ctime."""
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
    return all(getattr(before, name) == getattr(after, name) for name in fields)


def _copy_range(source: int, target: int) -> None:
    """Copy all of ``source`` from its start with ``copy_file_range``, or read/write where the
    kernel cannot (EXDEV on old kernels, EINVAL/ENOSYS/EOPNOTSUPP on some filesystems)."""
    offset = 0
    try:
        while copied := os.copy_file_range(source, target, COPY_CHUNK * 64, offset, offset):
            offset += copied
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    os.ftruncate(target, 0)
    with open(source, "rb", closefd=False) as src, open(target, "wb", closefd=False) as dst:
        src.seek(0)
        dst.seek(0)
        shutil.copyfileobj(src, dst, COPY_CHUNK)


def snapshot(source: BinaryIO, target: Path, temp_dir: Path | None = None) -> None:
    """Make ``target`` an independent copy of the open file ``source`` (from its start): a reflink
    (``FICLONE``: shared extents, copy on write) where the filesystem can, else ``copy_file_range``,
    else a plain copy. Never a hard link: a later change of the source never changes ``target``.
    Written under a temporary name and renamed (see ``atomic_file``), so ``target`` appears complete.

    Raises:
        OSError: reading the source or writing the target failed (nothing is left under ``target``).
    """
    with atomic_file(target, temp_dir=temp_dir) as handle:
        try:
            fcntl.ioctl(handle.fileno(), FICLONE, source.fileno())
        except OSError:
            _copy_range(source.fileno(), handle.fileno())


def sweep_temporaries(directory: Path, older_than: float, now: float, recursive: bool = False) -> list[Path]:
    """Remove the temporary files ``temporary_name`` made in ``directory`` (with ``recursive``, in
    its folders too; symbolic links to folders are not followed) whose status change time (ctime:
    the last write, rename or link, which no one can set back) is more than ``older_than`` seconds
    before ``now`` (seconds since the epoch): the leftovers of a killed writer. Only regular files
    named like ``.<name>.<8 hex digits>.tmp`` and owned by this process's user are removed, never
    anything else. Returns what was removed; an unreadable folder or file is skipped.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if recursive and entry.is_dir(follow_symlinks=False):
                removed += sweep_temporaries(Path(entry.path), older_than, now, recursive)
            elif TEMPORARY_NAME.match(entry.name) and entry.is_file(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_uid == os.geteuid() \
                    and now - entry.stat(follow_symlinks=False).st_ctime > older_than:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
