"""Helpers of the ``jug submit --until-done`` tests (fake PBS and real clusters)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from hpc_helpers import base_env, side_effects, wait_until

from jug.backends import select_store
from jug.hpc.chain import RUNNING, Chain

FAILING = """
from jug import TaskGenerator

@TaskGenerator
def broken(i):
    raise ValueError(f"task {i} is broken")

results = [broken(i) for i in range(6)]
"""


def until_done(proj: Path, sched: str, *args: str, jugfile: str = "work.py",
               work: tuple = (), env: dict | None = None) -> subprocess.CompletedProcess:
    """``jug submit --until-done``; asserts that it returned at once (within 60 s)."""
    extra = ["--", *work] if work else []
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "jug", "submit", "--scheduler", sched,
                        "--until-done", *args, jugfile, *extra], cwd=proj, env=base_env(env),
                       capture_output=True, text=True, timeout=120)
    assert time.time() - t0 < 60, "jug submit --until-done did not return at once"
    return p


def chain_of(proj: Path, jugfile: str = "work.py") -> Chain | None:
    """The chain record of the project's jugfile (None before the first submission)."""
    store = select_store(str(proj / (Path(jugfile).stem + ".jugdata")))
    return Chain.load(store, str(proj / jugfile))


def wait_chain_end(proj: Path, timeout: float, jugfile: str = "work.py") -> Chain:
    """Read the store until the chain is no longer running (no process of ours in between
    but this reader: the work carries itself)."""
    return wait_until(lambda: (c := chain_of(proj, jugfile)) and c.status != RUNNING and c,
                      timeout, "the chain to end", every=2.0)


def assert_each_task_once(proj: Path, n: int) -> None:
    """Every task of work.py started and finished exactly once."""
    started, done = side_effects(proj)
    assert sorted(done, key=int) == [str(i) for i in range(n)], done
    assert sorted(started, key=int) == sorted(done, key=int), started  # none ran twice


def cancel_quietly(proj: Path, jugfile: str = "work.py", env: dict | None = None) -> None:
    """``jug submit --cancel`` (the store knows each job's scheduler): only this test's jobs."""
    subprocess.run([sys.executable, "-m", "jug", "submit", "--cancel", jugfile], cwd=proj,
                   env=base_env(env), capture_output=True, timeout=120)
