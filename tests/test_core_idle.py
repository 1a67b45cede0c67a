"""The idle tail of ``jug execute``: an idle worker waits only for tasks it could run.

A worker left with tasks that other live workers hold leaves at once; a worker whose next task
needs a task running elsewhere waits, and notices the result long before its wait cycle ends.
"""

from __future__ import annotations

import time
from pathlib import Path

from support import lines, logged_jugfile, start_jug, status, wait_until, write_jugfile

IMPORTS = """
import os, time
from jug import TaskGenerator, barrier
"""

# ``gate`` runs until the test creates the file "release"; ``after`` needs its result.
GATED = logged_jugfile(IMPORTS, """
@TaskGenerator
def gate():
    log("gate-start")
    while not os.path.exists(os.path.join(HERE, "release")):
        time.sleep(0.02)
    return 1

@TaskGenerator
def after(x):
    log(f"after-{os.getpid()}")
    return x + 1

g = gate()
{tail}
""")


def _start_holder(tmp_path: Path, jf: Path, jugdir: Path, *extra: str):
    """Start a worker and return it once it runs ``gate`` (and so holds its lock)."""
    holder = start_jug("execute", jf, "--jugdir", jugdir, *extra)
    def started() -> bool:
        assert holder.poll() is None, holder.communicate()
        return "gate-start" in lines(tmp_path / "log")

    wait_until(started, 30, "the first worker to start its task", every=0.02)
    return holder


def test_worker_with_nothing_it_could_run_exits_at_once(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GATED.replace("{tail}", ""))
    jugdir = tmp_path / "jugdata"
    holder = _start_holder(tmp_path, jf, jugdir)
    try:
        # default wait cycles (20 x 12 s): before the fix this worker slept them all
        idle = start_jug("execute", jf, "--jugdir", jugdir)
        _out, err = idle.communicate(timeout=60)
        assert idle.returncode == 0, err
        assert holder.poll() is None  # it left while the other worker still held the task
        assert lines(tmp_path / "log") == ["gate-start"]  # and ran nothing
    finally:
        (tmp_path / "release").touch()
        holder.communicate(timeout=60)
    assert holder.returncode == 0
    assert status(jf, jugdir)["total"]["finished"] == 1


def test_waiting_worker_notices_the_awaited_result_well_before_its_cycle_ends(
        tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GATED.replace("{tail}", "a = after(g)"))
    jugdir = tmp_path / "jugdata"
    holder = _start_holder(tmp_path, jf, jugdir, "--target", "gate")
    try:
        waiter = start_jug("execute", jf, "--jugdir", jugdir, "--wait-cycle-time", "40",
                           "--nr-wait-cycles", "2")
        time.sleep(1.0)
        assert waiter.poll() is None  # its task needs the held one: it waits
    finally:
        (tmp_path / "release").touch()
    t0 = time.monotonic()
    _out, err = waiter.communicate(timeout=120)
    waited = time.monotonic() - t0
    holder.communicate(timeout=60)
    assert waiter.returncode == 0 and holder.returncode == 0, err
    assert lines(tmp_path / "log") == ["gate-start", f"after-{waiter.pid}"]
    assert waited < 20  # generous: far under the 40 s wait cycle it used to sleep out


def test_worker_stopped_at_a_barrier_waits_for_the_held_task(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GATED.replace("{tail}", "barrier()\na = after(g)"))
    jugdir = tmp_path / "jugdata"
    holder = _start_holder(tmp_path, jf, jugdir)
    try:
        waiter = start_jug("execute", jf, "--jugdir", jugdir, "--wait-cycle-time", "0.5")
        time.sleep(1.5)
        assert waiter.poll() is None  # what follows the barrier needs the held task
    finally:
        (tmp_path / "release").touch()
    _out, err = waiter.communicate(timeout=60)
    holder.communicate(timeout=60)
    assert waiter.returncode == 0 and holder.returncode == 0, err
    log = lines(tmp_path / "log")
    assert log[0] == "gate-start" and len(log) == 2 and log[1].startswith("after-")
    assert status(jf, jugdir)["total"]["finished"] == 2
