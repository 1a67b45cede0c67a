"""Helpers for the subcommand tests: run ``python -m jug`` on jugfiles written into tmp dirs.

Kept separate from tests/conftest.py so that the module name never clashes with
tests/hpc/conftest.py in a full run.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from support import IN_CI, ROOT, jug_env, start_jug, write_jugfile  # noqa: F401 (re-exported)
from support import run_jug as _support_run_jug

#: a jugfile with a Tasklet edge: ``pair`` -> ``pick`` (via pair[0]) -> ``report``
CHAIN = """
import os
from jug import TaskGenerator

MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marks")
os.makedirs(MARKS, exist_ok=True)

def mark(name):
    with open(os.path.join(MARKS, name), "a") as f:
        f.write("x")

@TaskGenerator
def load(i):
    mark(f"load{i}")
    return i

@TaskGenerator
def pair(x):
    mark(f"pair{x}")
    return (x, x * 10)

@TaskGenerator
def pick(v):
    mark(f"pick{v}")
    return v + 1

@TaskGenerator
def report(vs):
    mark("report")
    return sum(vs)

@TaskGenerator
def other(i):
    mark(f"other{i}")
    return -i

loaded = [load(i) for i in range(3)]
pairs = [pair(x) for x in loaded]
picked = [pick(p[0]) for p in pairs]
final = report(picked)
others = [other(i) for i in range(2)]
"""

# A jugfile stopped by a barrier until its first three tasks have run.
BARRIER = """
from jug import TaskGenerator, barrier

@TaskGenerator
def first(i):
    return i

@TaskGenerator
def second(xs):
    return sum(xs)

xs = [first(i) for i in range(3)]
barrier()
total = second(xs)
"""


def run_jug(*args: Any, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess:
    """:func:`support.run_jug` with the subcommand tests' shorter default timeout."""
    return _support_run_jug(*args, timeout=timeout, **kw)


def ok(*args: Any, **kw: Any) -> subprocess.CompletedProcess:
    """``run_jug`` that must exit 0 (the assertion shows the output otherwise)."""
    p = run_jug(*args, **kw)
    assert p.returncode == 0, f"jug {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def status(jugfile: Path, jugdir: str | Path, **kw: Any) -> dict:
    """The ``jug status --json`` document."""
    return json.loads(ok("status", "--json", jugfile, "--jugdir", jugdir, **kw).stdout)


def counts(jugfile: Path, jugdir: str | Path, name: str) -> dict[str, int]:
    """State counts of task name ``jugfile.<name>``."""
    return status(jugfile, jugdir)["tasks"][f"jugfile.{name}"]


def marks(folder: Path) -> dict[str, int]:
    """How many times each marked task ran (``{mark name: runs}``)."""
    d = Path(folder) / "marks"
    return {p.name: len(p.read_text()) for p in d.iterdir()} if d.is_dir() else {}


def wait_for(cond: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    """Terminate a background jug (if still running) and return its output."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def make_jugdir(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A jugdir of ``kind``: 'file' (a folder in tmp_path) or 'redis' (tests/redis_fixture.py)."""
    if kind == "file":
        return str(tmp_path / "data.jugdata")
    return request.getfixturevalue("redis_url")
