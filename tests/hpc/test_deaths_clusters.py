"""Why a worker died, on the REAL single-node SLURM (issue 25): a worker ``scancel``-ed while
its task ignores SIGTERM is SIGKILLed by SLURM after KillWait, leaving its lock; the worker
that reclaims the lock asks the scheduler why (this shared cluster has no slurmdbd, so the
answer comes from ``scontrol``'s memory of ended jobs), ``jug status`` says "cancelled", and
the death does not count towards the crash loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import base_env, wait_until

DEAF = """
import os, signal, sys, time
from jug import TaskGenerator

HERE = os.path.dirname(os.path.abspath(__file__))

@TaskGenerator
def deaf(i):
    # a task stuck in code that does not return to Python: SIGTERM cannot stop it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(os.path.join(HERE, "started"), "a").write(f"{os.getpid()}\\n")
    if not os.path.exists(os.path.join(HERE, "quick")):
        time.sleep(300)
    return i

xs = [deaf(i) for i in range(1)]
"""


def _jug(proj: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jug", *args], cwd=proj, env=base_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slurm
def test_scancelled_worker_is_explained_and_not_counted(tmp_path: Path,
                                                        slurm_cluster: str) -> None:
    _cancelled_worker(tmp_path, "slurm", ["scancel"], 60)


def _cancelled_worker(tmp_path: Path, sched: str, cancel: list[str], wait: float) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    tmp_path.chmod(0o755)
    (proj / "deaf.py").write_text(DEAF)
    p = _jug(proj, "submit", "--scheduler", sched, "--walltime", "0:10:00", "deaf.py")
    assert p.returncode == 0, p.stderr
    st = wait_until(lambda: (s := json.loads(_jug(proj, "status", "--json", "deaf.py").stdout))
                    ["locks"]["count"] == 1 and (proj / "started").exists() and s,
                    120, "the worker to lock the task")
    [owner] = st["locks"]["owners"]
    element = owner["job"]["queue_id"]
    subprocess.run([*cancel, element], check=True, capture_output=True)
    st = wait_until(
        lambda: (s := json.loads(_jug(proj, "status", "--json", "deaf.py").stdout))["deaths"]
        and s["deaths"][0]["fate"] and s, wait, "the killed worker's death to be explained")
    [death] = st["deaths"]
    assert death["why"] == "cancelled" and death["task_could_cause"] is False, death
    assert st["locks"]["count"] == 1  # SIGKILLed (SLURM: after KillWait): the lock stayed
    table = _jug(proj, "status", "deaf.py").stdout
    assert "worker died running deaf.deaf" in table and ": cancelled" in table, table
    (proj / "quick").touch()
    p = _jug(proj, "execute", "deaf.py")  # reclaims the lock, runs the task to the end
    assert p.returncode == 0, p.stderr
    assert "the scheduler says: cancelled" in p.stderr, p.stderr
    assert "not counted towards a crash loop" in p.stderr, p.stderr
    from jug.backends import select_store
    from jug.state.crashloop import NAMESPACE

    docs = select_store(str(proj / "deaf.jugdata")).read_docs(NAMESPACE)
    # the task finished: its crash record is gone, or it counted nothing
    assert all(int(d.get("count", 0)) == 0 for d in docs.values()), docs
    st = json.loads(_jug(proj, "status", "--json", "deaf.py").stdout)
    assert st["total"]["finished"] == 1 and st["total"]["failed"] == 0
