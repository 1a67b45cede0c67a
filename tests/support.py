"""Helpers for tests: write jugfiles into temporary folders and run ``jug`` in subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def jug_env(extra: dict | None = None) -> dict:
    """Environment for a jug subprocess: this checkout first on the path, no batch-job vars."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PBS_", "SGE_", "JUG_")) and k != "JOB_ID"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JUG_CONFIG"] = os.devnull  # no user config leaks into tests
    if extra:
        env.update(extra)
    return env


def run_jug(*args: str, cwd: Path | str | None = None, env: dict | None = None,
            timeout: float = 120, check: bool = False, input: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``python -m jug ARGS`` (stdin ``input``) and return the completed process."""
    proc = subprocess.run([sys.executable, "-m", "jug", *map(str, args)], cwd=cwd,
                          env=jug_env(env), capture_output=True, text=True, timeout=timeout,
                          input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"jug {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def start_jug(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start ``python -m jug ARGS`` in the background."""
    return subprocess.Popen([sys.executable, "-m", "jug", *map(str, args)], cwd=cwd,
                            env=jug_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def write_jugfile(folder: Path, source: str, name: str = "jugfile.py") -> Path:
    """Write a dedented jugfile into ``folder`` and return its path."""
    path = Path(folder) / name
    path.write_text(textwrap.dedent(source))
    return path


WORKER_LOG = re.compile(r"^jug \[\d\d:\d\d:\d\d\] ")


def error_lines(stderr: str) -> list[str]:
    """The non-blank lines of ``stderr`` other than a worker's own log lines (start, summary,
    exit: ``jug [HH:MM:SS] ...``): what a user reads as the error."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not WORKER_LOG.match(ln)]
