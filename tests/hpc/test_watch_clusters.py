"""``jug submit --watch`` on the REAL single-node SLURM and SGE (tests/clusters/*-up.sh).

Few and short on purpose (two cores, shared with the ``jug submit`` tests): SGE walltimes are
exact to the second, so the multi-walltime run uses SGE; SLURM (one-minute minimum walltime)
runs the map -> reduce test.  Under CI=true these fail, never skip, if a cluster cannot start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import base_env, fast_idle_workers, project_status, side_effects, wait_until

from jug.backends import select_store
from jug.hpc.job import cancel_arrays, submitted_arrays

LINE = re.compile(r"tasks: (\d+) waiting, (\d+) ready, (\d+) finished, (\d+) running, "
                  r"(\d+) failed, (\d+) crashed \| workers: (\d+) pending, (\d+) running")

MAPREDUCE = """
import os, sys, time
from jug import TaskGenerator

SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side")
os.makedirs(SIDE, exist_ok=True)

def mark(what):
    open(os.path.join(SIDE, f"{what}-{os.getpid()}"), "w").close()

@TaskGenerator
def part(i):
    mark(f"start-m{i}")
    time.sleep(1)
    mark(f"done-m{i}")
    return i

@TaskGenerator
def reduce(xs):
    mark("start-r")
    time.sleep(25)
    mark("done-r")
    return sum(xs)

total = reduce([part(i) for i in range(6)])
"""


@pytest.fixture
def proj(project: Path) -> Path:
    """The test project, with idle workers re-checking every second."""
    fast_idle_workers(project.parent)
    return project


def watch(proj: Path, sched: str, *args: str, jugfile: str = "work.py",
          work: tuple = ()) -> subprocess.Popen:
    """Start ``jug submit --watch`` in the background; its output goes to proj/watch.out."""
    extra = ["--", *work] if work else []
    out = open(proj / "watch.out", "w")
    return subprocess.Popen([sys.executable, "-m", "jug", "submit", "--scheduler", sched,
                             "--watch", "--poll", "2", *args, jugfile, *extra], cwd=proj,
                            env=base_env(), stdout=out, stderr=subprocess.STDOUT, text=True)


def finish(p: subprocess.Popen, proj: Path, timeout: float) -> str:
    """Wait for the loop to exit; its output (killed and shown if it overruns)."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        p.wait(30)
        pytest.fail(f"--watch did not finish in {timeout:.0f} s:\n"
                    + (proj / "watch.out").read_text()[-6000:])
    return (proj / "watch.out").read_text()


def polls(text: str) -> list[tuple[int, ...]]:
    """(ready, waiting, running, finished, failed, crashed, pending w., running w.) per poll."""
    order = (1, 0, 3, 2, 4, 5, 6, 7)  # the line prints the counts in the project's one order
    return [tuple(int(m.groups()[i]) for i in order) for m in LINE.finditer(text)]


def logs(proj: Path) -> dict[str, str]:
    """Worker log files by name."""
    return {f.name: f.read_text() for f in (proj / "logs").glob("*.out")}


def cleanup_queue(proj: Path, jugfile: str = "work.py") -> None:
    """Cancel the arrays this test's loop left in the queue (best effort, never others')."""
    try:
        store = select_store(str(proj / (Path(jugfile).stem + ".jugdata")))
        docs = submitted_arrays(store, str(proj / jugfile))
        if docs:
            cancel_arrays(store, docs, echo=lambda s: None)
    except Exception:
        pass


def _run_three_walltimes(proj: Path, sched: str, work: tuple, walltime: str, margin: str,
                         timeout: float, strict: bool = True) -> None:
    """--watch on work of about three walltimes: several arrays, each task finished exactly
    once, none killed by the walltime, no lock left, never more than two workers.

    ``strict``: no task even started twice.  Not for SLURM with a 1-minute walltime: its
    backstop ``--signal`` may come up to 60 s early, i.e. at any time; a task it cuts is
    released by the worker and runs again (checked instead).
    """
    n = int(work[0])
    t0 = time.time()
    p = watch(proj, sched, "--max-workers", "2", "--walltime", walltime, "--margin", margin,
              work=work)
    try:
        text = finish(p, proj, timeout)
    finally:
        cleanup_queue(proj)
    assert p.returncode == 0, text
    assert f"done: all {n} tasks finished" in text
    arrays = re.findall(rf"submitted {sched} array (\d+)", text)
    assert len(arrays) >= 3, text  # the work outlived several walltimes
    started, done = side_effects(proj)
    assert sorted(done, key=int) == [str(i) for i in range(n)]  # each task finished once
    stopped = {f"jug-work_{e.replace('.', '_')}.out"  # idle workers the loop stopped
               for m in re.finditer(r"stopped idle worker\(s\) ([\w., ]+)", text)
               for e in m.group(1).split(", ")}
    texts = logs(proj)
    for name, log in texts.items():
        assert "TIME LIMIT" not in log, (name, log)  # never killed by the walltime
    signalled = [name for name, log in texts.items()
                 if "released the lock of the running task" in log and name not in stopped]
    if strict:
        assert sorted(started, key=int) == sorted(done, key=int)  # none started twice
        assert not signalled, signalled  # no worker got the walltime's backstop signal
    else:  # a task cut by the early backstop signal was released and ran again
        assert len(started) - len(done) <= len(signalled) + len(stopped), (started, signalled)
    st = project_status(lambda *a, **k: subprocess.run([sys.executable, "-m", "jug", *a],
                                               cwd=proj, env=base_env(), capture_output=True,
                                               text=True), proj, args=work)
    assert st["total"]["finished"] == n and st["locks"]["count"] == 0
    assert all(row[7] + row[6] <= 2 for row in polls(text))  # never above --max-workers
    print(f"[{sched} three walltimes: {time.time() - t0:.0f} s, {len(arrays)} arrays]")


@pytest.mark.sge
def test_sge_watch_finishes_work_of_three_walltimes(proj: Path, sge_cluster: str) -> None:
    """22 tasks of 2 s (44 s of work), 15 s walltime (tasks start during the first 7 s)."""
    _run_three_walltimes(proj, "sge", ("22", "2"), "0:00:15", "8s", 240)


@pytest.mark.slurm
def test_slurm_watch_finishes_work_of_three_walltimes(proj: Path, slurm_cluster: str) -> None:
    """60 tasks of 3 s (180 s of work), SLURM's smallest walltime of 1 minute (30 s budget)."""
    _run_three_walltimes(proj, "slurm", ("60", "3"), "0:01:00", "30s", 300, strict=False)


@pytest.mark.slurm
def test_slurm_map_reduce_does_not_keep_workers_for_the_reduce(proj: Path,
                                                              slurm_cluster: str) -> None:
    """6 map tasks then a 25 s reduce with up to 4 workers: while only the reduce runs the
    loop keeps one worker (pending elements cancelled, idle ones stopped)."""
    (proj / "mr.py").write_text(textwrap.dedent(MAPREDUCE))
    t0 = time.time()
    p = watch(proj, "slurm", "--max-workers", "4", "--walltime", "0:02:00", "--margin", "30s",
              jugfile="mr.py")
    try:
        text = finish(p, proj, 180)
    finally:
        cleanup_queue(proj, "mr.py")
    assert p.returncode == 0, text
    rows = polls(text)
    assert max(r[6] + r[7] for r in rows) >= 2, text  # the map stage had several workers
    reduce_only = [i for i, r in enumerate(rows) if r[0] == 0 and r[1] == 0 and r[2] == 1]
    assert len(reduce_only) >= 4, text  # the 25 s reduce spans several 2 s polls
    late = [rows[i] for i in reduce_only[2:]]  # allow two polls for cancellations to land
    assert all(r[6] + r[7] <= 1 for r in late), text
    assert "stop" in text or "drop" in text  # it said what it shrank
    started, done = side_effects(proj)
    assert sorted(done) == sorted(started) == sorted([f"m{i}" for i in range(6)] + ["r"])
    print(f"[slurm map-reduce: {time.time() - t0:.0f} s]")


def _kill_worker(owner: dict) -> None:
    """Simulate node loss: SIGKILL the worker process, so it cannot release its lock.

    (``scancel`` and ``qdel`` first send SIGTERM / -notify's SIGUSR2, which jug handles by
    releasing the lock cleanly: no crash to recover from.)
    """
    os.kill(int(owner["pid"]), signal.SIGKILL)



def test_killed_worker_lock_is_reclaimed_and_task_completes(proj: Path, cluster: str) -> None:
    """A worker SIGKILLed mid-task (node loss) leaves its lock: the loop reclaims it (its job
    left the queue / its process is gone) and a new worker runs the task."""
    work = ("3", "6")
    p = watch(proj, cluster, "--max-workers", "1", "--walltime", "0:02:00", "--margin", "30s",
              "--stale-after", "600", work=work)
    run = lambda *a, **k: subprocess.run([sys.executable, "-m", "jug", *a], cwd=proj,  # noqa
                                         env=base_env(), capture_output=True, text=True)
    try:
        st = wait_until(lambda: (s := project_status(run, proj, args=work))["locks"]["count"] == 1
                        and s, 90, "a worker to lock a task")
        [owner] = st["locks"]["owners"]
        victim = owner["hash"]
        time.sleep(1)
        _kill_worker(owner)
        text = finish(p, proj, 150)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        cleanup_queue(proj)
    assert p.returncode == 0, text
    assert f"({victim[:12]})" in text and "reclaimed the lock of task work.work" in text, text
    started, done = side_effects(proj)
    assert sorted(done, key=int) == ["0", "1", "2"]
    assert len(started) == 4  # the killed task started twice, finished once
    st = project_status(run, proj, args=work)
    assert st["total"]["finished"] == 3 and st["locks"]["count"] == 0


@pytest.mark.sge
def test_sge_stop_file_drains_the_loop(proj: Path, sge_cluster: str) -> None:
    """touch STOP: pending elements cancelled, the running worker finishes its task, exit 3;
    removing STOP and rerunning resumes to the end."""
    work = ("10", "4")
    p = watch(proj, "sge", "--max-workers", "4", "--walltime", "0:05:00", "--margin", "60s",
              work=work)
    run = lambda *a, **k: subprocess.run([sys.executable, "-m", "jug", *a], cwd=proj,  # noqa
                                         env=base_env(), capture_output=True, text=True)
    try:
        wait_until(lambda: (proj / "watch.out").exists()
                   and (r := polls((proj / "watch.out").read_text()))
                   and r[-1][7] >= 1 and r[-1][6] >= 1 and r[-1][2] >= 1, 60,
                   "running and pending workers")
        (proj / "STOP").touch()
        t0 = time.time()
        text = finish(p, proj, 60)
        assert time.time() - t0 < 30, text  # only the current 4 s tasks were finished
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        cleanup_queue(proj)
    assert p.returncode == 3, text
    assert "draining: the stop file" in text and "drained:" in text and "rm " in text
    assert "submitted" not in text.split("draining:")[1]
    started, done = side_effects(proj)
    assert sorted(started) == sorted(done) and 0 < len(done) < 10  # none cut short
    st = project_status(run, proj, args=work)
    assert st["locks"]["count"] == 0
    (proj / "STOP").unlink()
    p = watch(proj, "sge", "--max-workers", "2", "--walltime", "0:05:00", "--margin", "60s",
              work=work)
    try:
        text = finish(p, proj, 120)
    finally:
        cleanup_queue(proj)
    assert p.returncode == 0 and "done: all 10 tasks finished" in text, text
    assert sorted(side_effects(proj)[1], key=int) == [str(i) for i in range(10)]


def test_rejection_is_reported_once_and_retried_with_back_off(proj: Path, cluster: str) -> None:
    """An unknown queue: the scheduler's words once, then fewer and fewer attempts
    (--no-validate: the submissions themselves are refused, as when a limit is reached)."""
    once = subprocess.run([sys.executable, "-m", "jug", "submit", "--scheduler", cluster,
                           "--watch", "--once", "--queue", "nosuchqueue", "--no-validate",
                           "work.py"], cwd=proj, env=base_env(), capture_output=True, text=True,
                          timeout=60)
    words = "invalid partition" if cluster == "slurm" else 'unknown queue "nosuchqueue"'
    assert once.returncode == 1 and words in once.stdout.lower(), once.stdout + once.stderr
    p = subprocess.Popen([sys.executable, "-m", "jug", "submit", "--scheduler", cluster,
                          "--watch", "--poll", "1", "--queue", "nosuchqueue", "--no-validate",
                          "work.py"],
                         cwd=proj, env=base_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(8)
    p.send_signal(signal.SIGINT)
    text = p.communicate(timeout=30)[0]
    assert p.returncode == 130 and "jug submit --cancel" in text
    assert text.count("rejected the submission") == 1, text  # reported once...
    assert words in text.lower()  # ...in the scheduler's words
    attempts = 1 + text.count("submission still rejected")
    assert 2 <= attempts <= 3 and len(polls(text)) >= 5, text  # back-off 2 s, 4 s, ...
    assert "submitted slurm" not in text and "submitted sge" not in text


def test_watch_adopts_a_throttled_array_and_raises_its_throttle(proj: Path,
                                                               cluster: str) -> None:
    """An array from plain ``jug submit --throttle 1``: the loop raises the live throttle
    (``scontrol update ... ArrayTaskThrottle`` / ``qalter -tc``) instead of submitting."""
    work = ("6", "2")
    first = subprocess.run([sys.executable, "-m", "jug", "submit", "--scheduler", cluster,
                            "--workers", "3", "--throttle", "1", "--walltime", "0:05:00",
                            "--margin", "60s", "work.py", "--", *work], cwd=proj,
                           env=base_env(), capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    p = watch(proj, cluster, "--max-workers", "3", "--walltime", "0:05:00", "--margin", "60s",
              work=work)
    try:
        text = finish(p, proj, 120)
    finally:
        cleanup_queue(proj)
    assert p.returncode == 0, text
    assert "raise throttle by 2" in text, text
    assert f"submitted {cluster} array" not in text  # the live array was enough
    assert "done: all 6 tasks finished" in text
    assert sorted(side_effects(proj)[1], key=int) == [str(i) for i in range(6)]
    assert max(r[7] for r in polls(text)) >= 2, text  # more than one ran at once
