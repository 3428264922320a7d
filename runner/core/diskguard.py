"""The disk guard: before claiming a job a runner checks the free space of the spool's and the
outputs' filesystems, and below ``Settings.min_free_bytes`` it claims nothing until space returns.
It logs one line when it pauses and one when it resumes. The web shows the same measure."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from runner.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FreeSpace:
    """Free space of the filesystem holding one of the data root's directories.

    ``name`` is ``spool`` or ``outputs``; ``free_bytes`` is what an unprivileged process may still
    write (``f_bavail``), ``total_bytes`` the filesystem's size; ``low`` is True below the floor.
    """

    name: str
    path: Path
    free_bytes: int
    total_bytes: int
    low: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: name, path, free_bytes, total_bytes, low."""
        return {"name": self.name, "path": str(self.path), "free_bytes": self.free_bytes,
                "total_bytes": self.total_bytes, "low": self.low}


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the outputs directory appears with the first job)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def measure(settings: Settings) -> list[FreeSpace]:
    """The free space of the spool's and the outputs' filesystems, in that order.

    Raises:
        OSError: a filesystem cannot be queried.
    """
    spaces = []
    for name, path in (("spool", settings.spool_dir), ("outputs", settings.outputs_dir)):
        stats = os.statvfs(_existing(path))
        free = stats.f_bavail * stats.f_frsize
        spaces.append(FreeSpace(name, path, free, stats.f_blocks * stats.f_frsize, free < settings.min_free_bytes))
    return spaces


def human_bytes(size: int) -> str:
    """``2147483648`` -> ``"2.0 GiB"`` (binary units; ``"512 bytes"`` below 1 KiB)."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size} bytes" if unit == 0 else f"{value:.1f} {units[unit]}"


def shortage(spaces: list[FreeSpace], floor: int) -> str | None:
    """One line naming every filesystem below ``floor`` bytes, or None when none is."""
    low = [space for space in spaces if space.low]
    if not low:
        return None
    listed = ", ".join(f"{human_bytes(space.free_bytes)} free for {space.name} ({space.path})" for space in low)
    return f"{listed}: below the floor of {human_bytes(floor)} (SPOOLSCRIBE_MIN_FREE_BYTES)"


class DiskGuard:
    """Whether a runner may claim a job now, as far as disk space goes; logs each change once."""

    def __init__(self, settings: Settings, runner: str) -> None:
        self.settings, self.runner = settings, runner
        self.paused = False

    def may_claim(self) -> bool:
        """True when every filesystem has at least the floor free (always, with no floor)."""
        if self.settings.min_free_bytes <= 0:
            return True
        try:
            spaces = measure(self.settings)
        except OSError as exc:
            log.warning("runner %s: cannot measure free disk space (%s); claiming anyway", self.runner, exc)
            return True
        problem = shortage(spaces, self.settings.min_free_bytes)
        if problem and not self.paused:
            log.warning("runner %s: not claiming jobs: %s; resuming once space is freed", self.runner, problem)
        elif not problem and self.paused:
            log.info("runner %s: disk space is back above the floor; claiming jobs again", self.runner)
        self.paused = problem is not None
        return not self.paused
