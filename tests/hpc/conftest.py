"""Fixtures of the HPC tests: real SLURM / SGE clusters, the fake PBS, and a jug submit runner.

The cluster fixtures bring the scheduler up with ``tests/clusters/<name>-up.sh`` (as root; it
installs Debian packages when missing) if its commands do not answer yet.  When the cluster
cannot start, tests are skipped on a developer machine but FAIL under CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from support import CLUSTERS, IN_CI, JUGFILES, base_env


def _unavailable(msg: str) -> None:
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: cluster tests must run)")
    pytest.skip(msg)


def _answers(cmd: list[str]) -> bool:
    if shutil.which(cmd[0]) is None:
        return False
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _bring_up(name: str, probe: list[str]) -> None:
    """Run the idempotent up-script (as root), which also restarts a daemon that died.

    A probe alone is not enough: ``qstat -f`` answers while SGE's execd is dead (jobs then
    wait forever), so as root the script always runs (about a second when all is up).
    """
    script = CLUSTERS / f"{name}-up.sh"
    if os.geteuid() != 0:
        if _answers(probe):
            return
        _unavailable(f"{name} is not running and starting it needs root ({script})")
    if shutil.which("apt-get") is None and shutil.which(probe[0]) is None:
        _unavailable(f"{name} is not installed and apt-get is missing")
    t0 = time.time()
    # flock: two xdist workers (or two checkouts) may ask at once; the script is idempotent
    # but not safe to run twice concurrently.  -o: the daemons it starts must not inherit
    # (and so hold forever) the lock
    proc = subprocess.run(["flock", "-o", f"/tmp/jug-{name}-up.lock", "bash", str(script)],
                          capture_output=True, text=True, timeout=900)
    sys.stderr.write(f"\n[{name}-up.sh took {time.time() - t0:.1f} s]\n")
    if proc.returncode != 0 or not _answers(probe):
        _unavailable(f"{script} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                     f"{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """A working single-node SLURM (started by tests/clusters/slurm-up.sh if needed)."""
    _bring_up("slurm", ["sinfo", "-h"])
    return "slurm"


@pytest.fixture(scope="session")
def sge_cluster() -> str:
    """A working single-node SGE (started by tests/clusters/sge-up.sh if needed)."""
    _bring_up("sge", ["qstat", "-f"])
    return "sge"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding a copy of the test jugfile ``work.py``."""
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(JUGFILES / "work.py", proj / "work.py")
    os.chmod(tmp_path, 0o755)
    return proj


@pytest.fixture
def jug() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m jug ARGS`` in ``cwd`` and return the completed process."""

    def run(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120,
            path_prefix: str | None = None) -> subprocess.CompletedProcess:
        e = base_env(env)
        if path_prefix:
            e["PATH"] = path_prefix + os.pathsep + e["PATH"]
        return subprocess.run([sys.executable, "-m", "jug", *args], cwd=cwd, env=e,
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.slurm),
                        pytest.param("sge", marks=pytest.mark.sge)])
def cluster(request: pytest.FixtureRequest) -> str:
    """The name of a running scheduler (brought up by the session fixture if needed); a test
    taking it runs once on SLURM and once on SGE."""
    return request.getfixturevalue(f"{request.param}_cluster")
