"""``spoolscribe install-systemd``: install spoolscribe's systemd units on this server.

The steps, in order: the ``spoolscribe`` user and group (systemd-sysusers), the configuration
``/etc/spoolscribe/spoolscribe.env`` (written once from ``systemd/spoolscribe.env.example``, never
overwritten), the directories (systemd-tmpfiles), the unit files into ``/etc/systemd/system``
with the virtual environment's path in their ``ExecStart=``, then ``systemctl enable`` of the
target, the web, the inbox and runners 1..N (runners above N are disabled). Every step is printed
before it runs; ``--dry-run`` prints them and changes nothing. Running it again changes nothing
that is already in place. ``--root DIR`` installs into another filesystem root (as
``systemctl --root`` does); the services are not started.

Loaded by name by the ``spoolscribe`` group (``runner.cli.main.COMMANDS``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from runner.core.fsutil import atomic_file

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
DEFAULT_VENV = Path("/opt/spoolscribe/.venv")
TEMPLATE_VENV = "/opt/spoolscribe/.venv"  # the path the unit files in systemd/ carry
UNIT_DIR = Path("/etc/systemd/system")
SYSUSERS = Path("/etc/sysusers.d/spoolscribe.conf")
TMPFILES = Path("/etc/tmpfiles.d/spoolscribe.conf")
ENV_FILE = Path("/etc/spoolscribe/spoolscribe.env")
RUNNER_TEMPLATE = "spoolscribe-runner@.service"
ALWAYS_ENABLED = ("spoolscribe.target", "spoolscribe-web.service", "spoolscribe-compat.service",
                  "spoolscribe-ingest.service")


@dataclass(frozen=True)
class Step:
    """One planned change: ``verb`` (write, run, ok, keep, note), what it is about, and the action
    that carries it out (None for a step that only reports)."""

    verb: str
    subject: str
    action: Callable[[], None] | None = None

    def line(self) -> str:
        """The step as printed: the verb padded to one column, then the subject."""
        return f"{self.verb:<6}{self.subject}"


@dataclass(frozen=True)
class Target:
    """Where to install: ``root`` (``/`` on a live server) and the paths seen from inside it."""

    root: Path
    venv: Path
    units_dir: Path

    @property
    def live(self) -> bool:
        """The root is this running system (so ``systemctl daemon-reload`` applies)."""
        return self.root == Path("/") and Path("/run/systemd/system").is_dir()

    def host(self, path: Path) -> Path:
        """``path`` (absolute, as the installed system sees it) as a path on this machine."""
        return self.root / path.relative_to("/")

    def tool(self, name: str, *args: str) -> list[str]:
        """A systemd tool's command line, with ``--root`` when the root is not ``/``."""
        return [name, *([] if self.root == Path("/") else [f"--root={self.root}"]), *args]


def plan(target: Target, runners: int, runner_memory: str | None) -> list[Step]:
    """Every step of an installation, worked out from what is already in ``target.root``.

    Reads only (and asks ``systemctl is-enabled``); the returned steps' actions do the writing,
    in order. ``runners`` is N of spoolscribe-runner@1..N; ``runner_memory`` a systemd size or None.

    Raises:
        OSError: a file of ``target.units_dir`` cannot be read.
    """
    steps: list[Step] = []
    steps += _write(target, SYSUSERS, (target.units_dir / "sysusers.d" / "spoolscribe.conf").read_text())
    steps.append(_run(target.tool("systemd-sysusers", SYSUSERS.name)))
    steps += _write(target, TMPFILES, (target.units_dir / "tmpfiles.d" / "spoolscribe.conf").read_text())
    steps += _env_file(target, runners)
    steps.append(_run(target.tool("systemd-tmpfiles", "--create", TMPFILES.name)))
    for source in _unit_sources(target.units_dir):
        text = source.read_text().replace(TEMPLATE_VENV, str(target.venv))
        steps += _write(target, UNIT_DIR / source.relative_to(target.units_dir), text)
    if runner_memory:
        steps += _write(target, UNIT_DIR / f"{RUNNER_TEMPLATE}.d" / "50-memory.conf",
                        "# Written by spoolscribe install-systemd --runner-memory\n"
                        f"[Service]\nMemoryMax={runner_memory}\n")
    if target.live:
        steps.append(_run(["systemctl", "daemon-reload"]))
    wanted = [*ALWAYS_ENABLED, *(f"spoolscribe-runner@{n}.service" for n in range(1, runners + 1))]
    for unit in wanted:
        if _is_enabled(target, unit):
            steps.append(Step("ok", f"{unit} enabled"))
        else:
            steps.append(_run(target.tool("systemctl", "enable", unit)))
    for unit in _enabled_runners(target):
        if unit not in wanted:
            steps.append(_run(target.tool("systemctl", "disable", unit)))
            steps.append(Step("note", f"{unit} is disabled but still runs until: systemctl stop {unit}"))
    return steps


def _unit_sources(units_dir: Path) -> list[Path]:
    units = sorted(units_dir.glob("*.service")) + sorted(units_dir.glob("*.target"))
    return units + sorted(units_dir.glob("*.service.d/*.conf"))


def _write(target: Target, path: Path, text: str) -> list[Step]:
    on_host = target.host(path)
    if on_host.is_file() and on_host.read_text() == text:
        return [Step("ok", f"{path} unchanged")]

    def write() -> None:
        _write_file(on_host, text, 0o644)

    return [Step("write", f"{path} ({'changed' if on_host.exists() else 'new'})", write)]


def _env_file(target: Target, runners: int) -> list[Step]:
    on_host = target.host(ENV_FILE)
    if on_host.exists():
        steps = [Step("keep", f"{ENV_FILE} (exists; never overwritten)")]
        found = re.search(r"^SPOOLSCRIBE_RUNNERS=(\d+)\s*$", on_host.read_text(), re.M)
        if (int(found.group(1)) if found else 1) != runners:
            steps.append(Step("note", f"set SPOOLSCRIBE_RUNNERS={runners} in {ENV_FILE} (it divides the cores)"))
        return steps
    example = (target.units_dir / "spoolscribe.env.example").read_text()
    text = re.sub(r"^SPOOLSCRIBE_RUNNERS=\d+$", f"SPOOLSCRIBE_RUNNERS={runners}", example, flags=re.M)

    def write() -> None:
        _write_file(on_host, text, 0o600)  # systemd-tmpfiles then makes it 0640 root:spoolscribe

    return [Step("write", f"{ENV_FILE} (new, from spoolscribe.env.example)", write)]


def _write_file(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(text.encode())


def _run(argv: list[str]) -> Step:
    def action() -> None:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120)

    return Step("run", " ".join(argv), action)


def _is_enabled(target: Target, unit: str) -> bool:
    return subprocess.run(target.tool("systemctl", "is-enabled", "--quiet", unit), capture_output=True,
                          timeout=60).returncode == 0


def _enabled_runners(target: Target) -> list[str]:
    wants = target.host(UNIT_DIR / "spoolscribe.target.wants")
    return sorted(link.name for link in wants.glob("spoolscribe-runner@*.service")) if wants.is_dir() else []


@click.command("install-systemd")
@click.option("--runners", type=click.IntRange(min=1), default=lambda: os.cpu_count() or 1,
              show_default="one per core, the fastest set-up in bench/throughput.py",
              help="Runner units to enable (spoolscribe-runner@1..N), each with cores / N threads; "
                   "enabled ones above N are disabled.")
@click.option("--venv", type=click.Path(path_type=Path), default=DEFAULT_VENV, show_default=True,
              help="The virtual environment spoolscribe is installed in, as the server sees it "
                   "(its bin/spoolscribe and bin/gunicorn go into ExecStart=).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"), show_default=True,
              help="Install into this filesystem root instead of the running system.")
@click.option("--units", "units_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=UNITS_DIR, show_default=True, help="The directory of the unit files (the checkout's systemd/).")
@click.option("--runner-memory", help="MemoryMax= of each runner (e.g. 6G), written as a drop-in.")
@click.option("--dry-run", is_flag=True, help="Print the steps; change nothing.")
def install_systemd(runners: int, venv: Path, root: Path, units_dir: Path, runner_memory: str | None,
                    dry_run: bool) -> None:
    """Create the spoolscribe user, directories and configuration, install and enable the systemd units.

    Prints every step before doing it; running it again changes nothing already in place.
    """
    if not venv.is_absolute():
        raise click.BadParameter("must be an absolute path", param_hint="--venv")
    if runner_memory and not re.fullmatch(r"\d+[KMGT]?|\d+%|infinity", runner_memory):
        raise click.BadParameter(f"{runner_memory!r} is not a systemd size (e.g. 6G, 80%)",
                                 param_hint="--runner-memory")
    target = Target(root.absolute(), venv, units_dir.absolute())
    click.echo(f"{'dry run, nothing is changed: ' if dry_run else ''}install-systemd into {target.root} "
               f"(venv {venv}, {runners} runner{'s' if runners > 1 else ''})")
    missing = [name for name in ("spoolscribe", "gunicorn") if not target.host(venv / "bin" / name).is_file()]
    if missing and not dry_run:
        raise click.ClickException(f"{venv}/bin has no {' or '.join(missing)}; install spoolscribe into that "
                                   f"virtual environment first, or pass --venv")
    steps = plan(target, runners, runner_memory)
    if missing:
        steps.insert(0, Step("note", f"{venv}/bin has no {' or '.join(missing)} (needed before a real install)"))
    for step in steps:
        click.echo(step.line())
        if step.action and not dry_run:
            try:
                step.action()
            except subprocess.CalledProcessError as exc:
                raise click.ClickException(f"{step.subject} failed: {exc.stderr.strip() or exc}") from None
    if not dry_run:
        click.echo("next: edit /etc/spoolscribe/spoolscribe.env, then: systemctl start spoolscribe.target")
