"""A killed worker's lock shows as crashed and is reclaimed; a live worker's lock never is."""

from __future__ import annotations

import signal
from pathlib import Path

from support import run_jug, start_jug, status, wait_until, write_jugfile

SLOW = """
import time
from jug import TaskGenerator

@TaskGenerator
def slow(i):
    time.sleep({sleep})
    return i

xs = [slow(i) for i in range(2)]
"""


def _wait_running(jf: Path, n: int = 1) -> dict:
    return wait_until(lambda: (st := status(jf))["total"]["running"] >= n and st, 30,
                      "the task to start", every=0.1)


def test_killed_worker_shows_crashed_and_is_reclaimed(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=60))
    w = start_jug("execute", jf)
    _wait_running(jf)
    w.send_signal(signal.SIGKILL)  # node loss: no chance to release the lock
    w.communicate(timeout=30)
    st = status(jf)
    assert st["total"]["crashed"] == 1 and st["total"]["running"] == 0
    assert "no longer exists" in st["locks"]["owners"][0]["dead"]
    table = run_jug("status", jf, check=True).stdout
    assert "Crashed" in table and "crashed" in table
    # a new worker reclaims the dead lock and runs the task (fast sleep this time)
    write_jugfile(tmp_path, SLOW.format(sleep=60).replace("time.sleep(60)", "time.sleep(0)"))
    p = run_jug("execute", jf, "--wait-cycle-time", "0.1")
    # the hash does not depend on the function body: the same tasks, now quick
    assert p.returncode == 0, p.stderr
    assert "reclaimed the lock of task jugfile.slow" in p.stderr
    st = status(jf)
    assert st["total"]["finished"] == 2 and st["locks"]["count"] == 0


def test_live_worker_lock_is_not_reclaimed(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=3))
    w = start_jug("execute", jf)
    _wait_running(jf)
    other = run_jug("execute", jf, "--wait-cycle-time", "0.2", "--stale-after", "0.01")
    w.communicate(timeout=30)
    assert w.returncode == 0 and other.returncode == 0
    assert "reclaimed" not in other.stderr  # the owner's process is alive on this host
    assert status(jf)["total"]["finished"] == 2
