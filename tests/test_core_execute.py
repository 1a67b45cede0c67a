"""``jug execute`` and ``jug status`` end to end, in subprocesses, on real stores."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from support import ROOT, run_jug, start_jug, status, wait_until, write_jugfile

PRIMES = """
from jug import TaskGenerator
from time import sleep

@TaskGenerator
def is_prime(n):
    sleep(0.01)
    for j in range(2, n - 1):
        if (n % j) == 0:
            return False
    return True

primes100 = list(map(is_prime, range(2, 101)))
"""

# Each run leaves a side-effect file named after its input: a second run of the same
# task would find the file already there and record the duplicate.
SIDE_EFFECT = """
import os
from jug import TaskGenerator

MARKS = {marks!r}

@TaskGenerator
def work(i):
    path = os.path.join(MARKS, str(i))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)  # raises if run twice
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    import time; time.sleep({sleep})
    return i * i

@TaskGenerator
def add(values):
    return sum(values)

squares = [work(i) for i in range({n})]
total = add(squares)
"""


def test_primes_tutorial_status_execute_value(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, PRIMES, "primes.py")
    before = run_jug("status", "primes.py", cwd=tmp_path, check=True).stdout
    assert "primes.is_prime" in before
    row = next(line for line in before.splitlines() if line.startswith("primes.is_prime"))
    assert row.split()[1:] == ["0", "99", "0", "0", "0"]
    workers = [start_jug("execute", "primes.py", cwd=tmp_path) for _ in range(4)]
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    assert (tmp_path / "primes.jugdata").is_dir()  # next to the jugfile
    table = run_jug("status", "primes.py", cwd=tmp_path, check=True).stdout.splitlines()
    assert table[0].split() == ["Task", "name", "Waiting", "Ready", "Finished", "Running", "Failed"]
    row = next(line for line in table if line.startswith("primes.is_prime"))
    assert row.split()[1:] == ["0", "0", "99", "0", "0"]
    assert next(line for line in table if line.startswith("Total:")).split()[1:] == row.split()[1:]
    after = status(jf)
    assert after["total"]["finished"] == 99 and after["total"]["ready"] == 0
    code = ("import jug; store, ns = jug.init('primes.py'); "
            "print(jug.value(ns['primes100'])[:10])")
    out = _python(code, tmp_path)
    assert out.strip() == "[True, True, False, True, False, True, False, False, False, True]"


def _python(code: str, cwd: Path) -> str:
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


def test_four_concurrent_workers_run_each_task_exactly_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    jf = write_jugfile(tmp_path, SIDE_EFFECT.format(marks=str(marks), n=60, sleep=0.005))
    workers = [start_jug("execute", jf, "--wait-cycle-time", "0.2") for _ in range(4)]
    errs = []
    for w in workers:
        _, err = w.communicate(timeout=120)
        errs.append(err)
        assert w.returncode == 0, err
    assert sorted(int(p.name) for p in marks.iterdir()) == list(range(60))
    assert not any("FileExistsError" in e for e in errs)
    pids = {p.read_text() for p in marks.iterdir()}
    assert len(pids) >= 2  # the work really was shared
    st = status(jf)
    assert st["total"] == {"waiting": 0, "ready": 0, "running": 0, "finished": 61, "failed": 0,
                           "crashed": 0}
    assert st["locks"]["count"] == 0
    out = _python("import jug; s, ns = jug.init('jugfile.py'); print(jug.value(ns['total']))",
                  tmp_path)
    assert int(out) == sum(i * i for i in range(60))


def test_status_counts_waiting_and_short_output(tmp_path: Path) -> None:
    marks = tmp_path / "m"
    marks.mkdir()
    jf = write_jugfile(tmp_path, SIDE_EFFECT.format(marks=str(marks), n=5, sleep=0))
    st = status(jf)
    name = "jugfile.work"
    assert st["tasks"][name]["ready"] == 5
    assert st["tasks"]["jugfile.add"]["waiting"] == 1
    assert st["incomplete"] is False
    short = run_jug("status", "--short", jf, check=True).stdout.strip()
    assert short.splitlines() == [
        "6 tasks: 1 waiting, 5 ready, 0 finished, 0 running, 0 failed"]


def test_dict_store_runs_in_one_process(tmp_path: Path) -> None:
    marks = tmp_path / "m"
    marks.mkdir()
    jf = write_jugfile(tmp_path, SIDE_EFFECT.format(marks=str(marks), n=3, sleep=0))
    proc = run_jug("execute", jf, "--jugdir", "dict_store", check=True)
    assert proc.returncode == 0
    assert len(list(marks.iterdir())) == 3
    assert not (tmp_path / "jugfile.jugdata").exists()


FAILING = """
from jug import TaskGenerator

@TaskGenerator
def ok(i):
    return i

@TaskGenerator
def boom(x):
    raise ValueError("boom happened on %r" % (x,))

@TaskGenerator
def after(x):
    return x

a = [ok(i) for i in range(3)]
b = boom(a[0])
c = after(b)
d = [ok(i) for i in range(3, 6)]
"""


def test_failing_task_is_marked_failed_and_exit_is_nonzero(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    proc = run_jug("execute", jf)
    assert proc.returncode != 0
    assert "jugfile.boom" in proc.stderr and "boom happened on 0" in proc.stderr
    assert "Traceback" in proc.stderr
    st = status(jf)
    assert st["tasks"]["jugfile.boom"]["failed"] == 1
    assert st["tasks"]["jugfile.after"]["waiting"] == 1
    assert st["failures"][0]["task"] == "jugfile.boom"
    # without --keep-going it stopped at the failure: later independent tasks did not run
    assert st["tasks"]["jugfile.ok"]["finished"] == 3


def test_keep_going_runs_independent_tasks(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    proc = run_jug("execute", "--keep-going", jf)
    assert proc.returncode != 0
    st = status(jf)
    assert st["tasks"]["jugfile.ok"]["finished"] == 6
    assert st["tasks"]["jugfile.boom"]["failed"] == 1
    assert st["tasks"]["jugfile.after"]["finished"] == 0
    # a failed task stays failed on the next run (it is not silently retried)
    again = run_jug("execute", "--keep-going", jf)
    assert again.returncode != 0
    assert "cleanup --failed-only" in again.stderr


def test_target_runs_only_matching_tasks_and_their_dependencies(tmp_path: Path) -> None:
    src = """
    from jug import TaskGenerator
    @TaskGenerator
    def base(i): return i
    @TaskGenerator
    def square(x): return x * x
    @TaskGenerator
    def other(i): return -i
    s = [square(base(i)) for i in range(4)]
    o = [other(i) for i in range(4)]
    """
    jf = write_jugfile(tmp_path, src)
    run_jug("execute", "--target", "jugfile.square", jf, check=True)
    st = status(jf)
    assert st["tasks"]["jugfile.square"]["finished"] == 4
    assert st["tasks"]["jugfile.base"]["finished"] == 4
    assert st["tasks"]["jugfile.other"]["finished"] == 0
    bad = run_jug("execute", "--target", "nosuchname", jf)
    assert bad.returncode != 0 and "jugfile.other" in bad.stderr


def test_unknown_option_and_subcommand_are_errors(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, PRIMES)
    p = run_jug("execute", "--no-such-option", jf)
    assert p.returncode == 2 and "unrecognized arguments" in p.stderr
    p = run_jug("exectue", jf)
    assert p.returncode == 2 and "jug execute" in p.stderr


SLOW = """
import time
from jug import TaskGenerator

@TaskGenerator
def slow(i):
    time.sleep({sleep})
    return i

@TaskGenerator
def after(xs):
    return sum(xs)

xs = [slow(i) for i in range({n})]
total = after(xs)
"""


def _wait_for_lock(jf: Path, timeout: float = 30) -> dict:
    """The status once a task is locked.  The lock folder is polled directly: a ``jug status``
    per poll can take longer than a short task on a loaded machine, and so miss its lock."""
    locks = jf.with_suffix(".jugdata") / "locks"
    wait_until(lambda: locks.is_dir() and any(locks.iterdir()), timeout,
               "a task to get locked", every=0.02)
    return status(jf)


def test_sigterm_releases_lock_and_exits_nonzero(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=30, n=1))
    w = start_jug("execute", jf)
    st = _wait_for_lock(jf)
    assert st["total"]["running"] == 1
    owner = st["locks"]["owners"][0]
    assert owner["pid"] == w.pid and owner["task"] == "jugfile.slow"
    w.send_signal(signal.SIGTERM)
    _, err = w.communicate(timeout=30)
    assert w.returncode != 0
    assert "SIGTERM" in err
    st = status(jf)
    assert st["locks"]["count"] == 0 and st["total"]["finished"] == 0
    assert st["total"]["failed"] == 0  # terminated is not failed: it will run again


def test_stop_file_drains_busy_and_idle_workers(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=2, n=1))
    stop = tmp_path / "STOP"
    env = {"JUG_EXIT_IF_FILE_EXISTS": str(stop)}
    busy = start_jug("execute", jf, env=env)
    _wait_for_lock(jf)
    # the idle worker waits for the busy one's task (which its next task needs)
    idle = start_jug("execute", jf, "--wait-cycle-time", "30", env=env)
    time.sleep(1.0)
    stop.touch()
    t0 = time.time()
    _, err_idle = idle.communicate(timeout=30)
    _, err_busy = busy.communicate(timeout=30)
    assert idle.returncode == 0 and busy.returncode == 0
    assert time.time() - t0 < 10  # the idle worker did not sleep out its 30 s cycle
    assert "stop file" in err_idle and "stop file" in err_busy
    st = status(jf)
    # the busy worker finished its current task, then stopped before the next one
    assert st["tasks"]["jugfile.slow"]["finished"] == 1
    assert st["tasks"]["jugfile.after"]["finished"] == 0
    assert st["locks"]["count"] == 0


def test_stop_file_present_before_start_runs_nothing(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=0, n=3))
    stop = tmp_path / "STOP"
    stop.touch()
    p = run_jug("execute", jf, env={"JUG_EXIT_IF_FILE_EXISTS": str(stop)})
    assert p.returncode == 0
    assert status(jf)["total"]["finished"] == 0


def test_max_tasks_env_var(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=0, n=5))
    run_jug("execute", jf, env={"JUG_MAX_TASKS": "2"}, check=True)
    assert status(jf)["total"]["finished"] == 2
    bad = run_jug("execute", jf, env={"JUG_MAX_TASKS": "two"})
    assert bad.returncode != 0 and "JUG_MAX_TASKS" in bad.stderr


def test_lock_records_batch_job_ids(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=30, n=1))
    env = {"SLURM_JOB_ID": "1234", "SLURM_ARRAY_JOB_ID": "1200", "SLURM_ARRAY_TASK_ID": "7"}
    w = start_jug("execute", jf, env=env)
    try:
        st = _wait_for_lock(jf)
    finally:
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=30)
    owner = st["locks"]["owners"][0]
    assert owner["job"] == {"scheduler": "slurm", "job_id": "1234", "array_job_id": "1200",
                            "array_task_id": "7", "queue_id": "1200_7"}
    assert owner["host"] == os.uname().nodename and owner["pid"] == w.pid
    assert owner["started"] <= owner["locked_at"]


def test_waiting_worker_picks_up_after_other_finishes(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.format(sleep=1.5, n=1))
    first = start_jug("execute", jf)
    _wait_for_lock(jf)
    second = run_jug("execute", jf, "--wait-cycle-time", "0.3")
    first.communicate(timeout=30)
    assert second.returncode == 0 and first.returncode == 0
    assert status(jf)["total"]["finished"] == 2
