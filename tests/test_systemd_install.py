"""``spoolscribe install-systemd`` into temporary roots, and the installed units checked by
``systemd-analyze verify`` and ``systemd-analyze security --offline`` (no systemd as PID 1 needed).

Nothing here may change this machine's /etc, users or units: every test compares them before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import install_systemd

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


UNITS = ("spoolscribe.target", "spoolscribe-migrate.service", "spoolscribe-web.service",
         "spoolscribe-compat.service", "spoolscribe-ingest.service", "spoolscribe-runner@1.service",
         "spoolscribe-runner@2.service")
HOST_PATHS = (Path("/etc/passwd"), Path("/etc/group"), Path("/etc/systemd/system"), Path("/etc/sysusers.d"),
              Path("/etc/tmpfiles.d"), Path("/etc/spoolscribe"), Path("/srv/spoolscribe"), Path("/var/lib/spoolscribe"),
              Path("/opt/spoolscribe"))


def tree(*tops: Path) -> dict[str, tuple]:
    """Every path under ``tops`` with its type, mode, owner, size, mtime and link target."""
    found = {}
    for top in tops:
        paths = [top, *top.rglob("*")] if top.is_dir() and not top.is_symlink() else [top]
        for path in paths:
            if not os.path.lexists(path):
                continue
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                                os.readlink(path) if path.is_symlink() else None)
    return found


@pytest.fixture
def host_unchanged():
    """Fails the test if this machine's users, units or spoolscribe paths changed during it."""
    before = tree(*HOST_PATHS)
    yield
    assert tree(*HOST_PATHS) == before


def ids(root: Path, table: str, name: str) -> int:
    """The numeric id of ``name`` in ``root``'s /etc/passwd or /etc/group."""
    for line in (root / "etc" / table).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"{name} not in {root}/etc/{table}")


def test_dry_run_prints_every_step_and_writes_nothing(tmp_path: Path, host_unchanged) -> None:
    root = tmp_path / "root"
    root.mkdir()
    done = install_systemd(root, "--dry-run", "--runners", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("dry run, nothing is changed: install-systemd into ")
    for expected in ["write /etc/sysusers.d/spoolscribe.conf (new)",
                     f"run   systemd-sysusers --root={root} spoolscribe.conf",
                     "write /etc/spoolscribe/spoolscribe.env (new, from spoolscribe.env.example)",
                     f"run   systemd-tmpfiles --root={root} --create spoolscribe.conf",
                     "write /etc/systemd/system/spoolscribe-.service.d/10-common.conf (new)",
                     *(f"write /etc/systemd/system/{unit} (new)" for unit in
                       ("spoolscribe.target", "spoolscribe-migrate.service", "spoolscribe-web.service",
                        "spoolscribe-compat.service", "spoolscribe-ingest.service", "spoolscribe-runner@.service")),
                     *(f"run   systemctl --root={root} enable {unit}" for unit in
                       ("spoolscribe.target", "spoolscribe-web.service", "spoolscribe-compat.service",
                        "spoolscribe-ingest.service",
                        "spoolscribe-runner@1.service", "spoolscribe-runner@2.service"))]:
        assert expected in lines, (expected, done.stdout)
    assert "/opt/spoolscribe/.venv/bin has no spoolscribe or gunicorn" in done.stdout  # noted, not fatal
    assert list(root.iterdir()) == []


def test_install_into_a_root_is_complete_and_a_second_run_changes_nothing(systemd_root: Path,
                                                                           host_unchanged) -> None:
    root = systemd_root
    uid, gid = ids(root, "passwd", "spoolscribe"), ids(root, "group", "spoolscribe")
    assert uid != 0 and "spoolscribe:x:" in (root / "etc/passwd").read_text()
    for path, mode, owner in [("var/lib/spoolscribe", 0o750, (uid, gid)), ("etc/spoolscribe", 0o750, (0, gid)),
                              ("etc/spoolscribe/spoolscribe.env", 0o640, (0, gid)),
                              ("srv/spoolscribe/inbox", 0o2775, (uid, gid))]:
        st = (root / path).stat()
        assert (st.st_mode & 0o7777, (st.st_uid, st.st_gid)) == (mode, owner), path
    assert "SPOOLSCRIBE_RUNNERS=2" in (root / "etc/spoolscribe/spoolscribe.env").read_text().splitlines()
    runner = (root / "etc/systemd/system/spoolscribe-runner@.service").read_text()
    assert "ExecStart=/opt/spoolscribe/.venv/bin/spoolscribe runner --name %H-%i" in runner
    wants = root / "etc/systemd/system/spoolscribe.target.wants"
    assert sorted(link.name for link in wants.iterdir()) == [
        "spoolscribe-compat.service", "spoolscribe-ingest.service", "spoolscribe-runner@1.service",
        "spoolscribe-runner@2.service", "spoolscribe-web.service"]
    assert (root / "etc/systemd/system/multi-user.target.wants/spoolscribe.target").is_symlink()

    installed = tree(root)
    again = install_systemd(root, "--runners", "2")
    assert again.returncode == 0, again.stderr
    verbs = {line.split()[0] for line in again.stdout.splitlines()[1:-1]}
    assert verbs == {"ok", "keep", "run"}, again.stdout
    assert [line for line in again.stdout.splitlines() if line.startswith("run")] == [
        f"run   systemd-sysusers --root={root} spoolscribe.conf",
        f"run   systemd-tmpfiles --root={root} --create spoolscribe.conf"]  # both no-ops once done
    assert tree(root) == installed


def test_fewer_runners_disables_the_ones_above(systemd_root: Path, host_unchanged) -> None:
    done = install_systemd(systemd_root, "--runners", "1")
    assert done.returncode == 0, done.stderr
    assert f"run   systemctl --root={systemd_root} disable spoolscribe-runner@2.service" in done.stdout
    assert "note  set SPOOLSCRIBE_RUNNERS=1 in /etc/spoolscribe/spoolscribe.env" in done.stdout
    wants = systemd_root / "etc/systemd/system/spoolscribe.target.wants"
    assert not (wants / "spoolscribe-runner@2.service").exists()
    assert (wants / "spoolscribe-runner@1.service").is_symlink()


def test_install_refuses_a_venv_without_spoolscribe(tmp_path: Path, host_unchanged) -> None:
    root = tmp_path / "root"
    root.mkdir()
    done = install_systemd(root, "--venv", "/nowhere/venv")
    assert done.returncode == 1
    assert "/nowhere/venv/bin has no spoolscribe or gunicorn" in done.stderr
    assert list(root.iterdir()) == []


@pytest.fixture
def analysable_root(systemd_root: Path) -> Path:
    """The installed root with this machine's own system units (sysinit.target, network-online.target,
    ...) under its /usr/lib/systemd/system, which ``systemd-analyze --root`` loads dependencies from."""
    shutil.copytree("/usr/lib/systemd/system", systemd_root / "usr/lib/systemd/system", symlinks=True)
    done = install_systemd(systemd_root, "--runners", "2", "--runner-memory", "6G")
    assert "write /etc/systemd/system/spoolscribe-runner@.service.d/50-memory.conf (new)" in done.stdout
    return systemd_root


def test_systemd_analyze_verify_passes_on_every_unit(analysable_root: Path) -> None:
    for unit in UNITS:
        done = subprocess.run(["systemd-analyze", "verify", f"--root={analysable_root}", unit],
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), unit


def test_exposure_is_low_for_every_unit(analysable_root: Path) -> None:
    exposure = {}
    for unit in UNITS[1:6]:
        done = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={analysable_root}",
                               "--no-pager", unit], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        exposure[unit] = float(re.search(rf"exposure level for {re.escape(unit)}: (\d+\.\d)", done.stdout).group(1))
    assert exposure["spoolscribe-runner@1.service"] <= 3.0 and exposure["spoolscribe-ingest.service"] <= 3.0, exposure
    assert max(exposure.values()) <= 3.0, exposure
