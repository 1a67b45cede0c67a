"""jug.hooks.exit_checks: from the environment (on by default) and called from jugfiles."""

from __future__ import annotations

import collections
import time
from pathlib import Path

from support import (
    counts,
    execute,
    lines,
    logged_jugfile,
    start_execute,
    status,
    wait_until,
    write_jugfile,
)

IMPORTS = """
import os, time
from jug import TaskGenerator, barrier
from jug.hooks import exit_checks
"""


def logged(body: str) -> str:
    """A jugfile: IMPORTS, the ``log(word)`` side-effect helper, then ``body``."""
    return logged_jugfile(IMPORTS, body)


TEN = logged("""
@TaskGenerator
def work(i):
    log(f"work-{i}")
    return i

tasks = [work(i) for i in range(10)]
""")


def test_env_max_tasks_runs_exactly_n_per_worker(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TEN)
    p = execute(jf, jugdir, env={"JUG_MAX_TASKS": "3"})
    assert len(lines(tmp_path / "log")) == 3
    assert "3 tasks executed" in p.stderr
    assert counts(status(jf, jugdir), "jugfile.work")["finished"] == 3
    execute(jf, jugdir, env={"JUG_MAX_TASKS": "3"})
    assert len(lines(tmp_path / "log")) == 6
    execute(jf, jugdir)  # no limit: finishes
    assert sorted(lines(tmp_path / "log")) == sorted(f"work-{i}" for i in range(10))


def test_env_max_tasks_counts_per_worker(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def work(i):
        log(f"work-{i}-{os.getpid()}")
        time.sleep(0.1)
        return i

    tasks = [work(i) for i in range(10)]
    """))
    workers = [start_execute(jf, jugdir, env={"JUG_MAX_TASKS": "3"}) for _ in range(2)]
    errs = [w.communicate(timeout=60)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errs
    log = lines(tmp_path / "log")
    assert len(log) == 6 and len({w.split("-")[1] for w in log}) == 6  # 3 each, none twice
    per_pid = collections.Counter(w.split("-")[2] for w in log)
    assert sorted(per_pid.values()) == [3, 3]
    assert all("3 tasks executed" in e for e in errs)


def test_env_max_tasks_must_be_a_number(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TEN)
    p = execute(jf, jugdir, env={"JUG_MAX_TASKS": "lots"}, check=False)
    assert p.returncode != 0 and "JUG_MAX_TASKS" in p.stderr
    assert not (tmp_path / "log").exists()


def test_env_stop_file_present_beforehand_runs_nothing(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TEN)
    stop = tmp_path / "STOP"
    stop.touch()
    p = execute(jf, jugdir, env={"JUG_EXIT_IF_FILE_EXISTS": str(stop)})
    assert not (tmp_path / "log").exists()
    assert "STOP" in p.stderr
    stop.unlink()
    execute(jf, jugdir, env={"JUG_EXIT_IF_FILE_EXISTS": str(stop)})
    assert len(lines(tmp_path / "log")) == 10


def test_env_stop_file_created_by_a_task(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        if i == 2:
            open(os.path.join(HERE, "STOP"), "w").close()
        return i

    tasks = [work(i) for i in range(10)]
    """))
    execute(jf, jugdir, env={"JUG_EXIT_IF_FILE_EXISTS": str(tmp_path / "STOP")})
    assert lines(tmp_path / "log") == ["work-0", "work-1", "work-2"]


def test_idle_worker_exits_when_stop_file_appears(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def slow():
        log("slow-start")
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(HERE, "release")) and time.time() < deadline:
            time.sleep(0.05)
        log("slow-end")
        return 1

    @TaskGenerator
    def after(x):
        log("after")
        return x + 1

    a = after(slow())
    """))
    busy = start_execute(jf, jugdir)
    try:
        wait_until(lambda: "slow-start" in lines(tmp_path / "log"), 30,
                   "the first worker to start its task")
        stop = tmp_path / "STOP"
        idle = start_execute(jf, jugdir, "--nr-wait-cycles", "1000",
                             env={"JUG_EXIT_IF_FILE_EXISTS": str(stop)})
        time.sleep(1.0)
        assert idle.poll() is None  # waiting for the other worker's task
        stop.touch()
        t0 = time.monotonic()
        _out, err = idle.communicate(timeout=20)
        assert time.monotonic() - t0 < 5
        assert idle.returncode == 0, err
        assert busy.poll() is None  # the busy worker's long task is still running
        assert lines(tmp_path / "log") == ["slow-start"]  # the idle worker ran nothing
    finally:
        (tmp_path / "release").touch()
        busy.communicate(timeout=60)
    assert busy.returncode == 0
    assert lines(tmp_path / "log") == ["slow-start", "slow-end", "after"]


def test_env_time_limit(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        time.sleep(0.25)
        return i

    tasks = [work(i) for i in range(20)]
    """))
    p = execute(jf, jugdir, env={"JUG_MAX_SECONDS": "1"})
    # the clock starts with the worker (before loading), so on a slow machine it may run none
    n = len(lines(tmp_path / "log"))
    assert n <= 5, n
    assert "stopping" in p.stderr and "time" in p.stderr
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 20  # the rest runs without the limit


def test_exit_checks_called_from_jugfile(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    exit_checks.exit_after_n_tasks(4)

    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        return i

    tasks = [work(i) for i in range(10)]
    barrier()   # reloading past the barrier must not reset or double the count
    more = [work(i) for i in range(10, 13)]
    """))
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 4
    execute(jf, jugdir)
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 12
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 13
    assert status(jf, jugdir)["total"]["finished"] == 13


def test_exit_after_time_from_jugfile(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    exit_checks.exit_after_time(seconds=0.5)

    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        time.sleep(0.3)
        return i

    tasks = [work(i) for i in range(20)]
    """))
    execute(jf, jugdir)
    n = len(lines(tmp_path / "log"))
    assert 1 <= n <= 4, n


def test_exit_if_file_exists_from_jugfile(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    exit_checks.exit_if_file_exists(os.path.join(HERE, "STOP"))

    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        if i == 4:
            open(os.path.join(HERE, "STOP"), "w").close()
        return i

    tasks = [work(i) for i in range(10)]
    """))
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 5
    execute(jf, jugdir)  # still there: nothing runs
    assert len(lines(tmp_path / "log")) == 5


def test_exit_when_true_with_and_without_task(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    def saw_marker(t):
        return t.name.endswith("marker")

    def three_logged():
        return os.path.exists(LOG) and len(open(LOG).read().split()) >= MAX

    exit_checks.exit_when_true(saw_marker, function_takes_Task=True)
    exit_checks.exit_when_true(three_logged)

    @TaskGenerator
    def work(i):
        log(f"work-{i}")
        return i

    @TaskGenerator
    def marker(x):
        log("marker")
        return x

    a = [work(i) for i in range(2)]
    m = marker(a)
    b = [work(i) for i in range(2, 8)]
    """))
    src = jf.read_text()
    jf.write_text(src.replace("MAX", "100"))
    execute(jf, jugdir)  # stops right after the marker task (function_takes_Task=True)
    assert lines(tmp_path / "log") == ["work-0", "work-1", "marker"]
    jf.write_text(src.replace("MAX", "5"))
    execute(jf, jugdir)  # stops once f() is true (checked before each task)
    assert len(lines(tmp_path / "log")) == 5
