"""``jug execute -j K``: one load, K forked workers, real processes, real signals."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from support import run_jug, start_jug, status, stop, wait_until, write_jugfile

from jug.backends import select_store
from jug.commands.execute import worker_count
from jug.engine.forked import ChildEnd, _Tagged, allowed_cpus, severity
from jug.state.shifts import read_records

WORK = """
import os, time
from jug import TaskGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.path.join(HERE, "gate")

def mark(name):
    os.makedirs(os.path.join(HERE, "marks"), exist_ok=True)
    fd = os.open(os.path.join(HERE, "marks", name), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"x")
    os.close(fd)

@TaskGenerator
def work(i):
    if os.environ.get("WAIT_GATE"):
        while not os.path.exists(GATE):
            time.sleep(0.02)
    if i == int(os.environ.get("FAIL", "-1")):
        raise ValueError("bad")
    mark(f"work{i}")
    return i * i

@TaskGenerator
def total(xs):
    mark("total")
    return sum(xs)

result = total([work(i) for i in range(N)])
"""


def _jugfile(tmp_path: Path, n: int = 12) -> Path:
    return write_jugfile(tmp_path, WORK.replace("range(N)", f"range({n})"))


def _marks(tmp_path: Path) -> dict[str, int]:
    d = tmp_path / "marks"
    return {p.name: len(p.read_bytes()) for p in d.iterdir()} if d.is_dir() else {}


def _locks(jd: Path) -> dict:
    return select_store(str(jd)).list_locks()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children(proc) -> list[int]:
    return [c.pid for c in psutil.Process(proc.pid).children()]


def test_j3_runs_each_task_once_with_three_tagged_workers(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 30)
    jd = tmp_path / "d"
    p = run_jug("execute", jf, "--jugdir", jd, "-j", "3")
    assert p.returncode == 0, p.stderr
    assert _marks(tmp_path) == {**{f"work{i}": 1 for i in range(30)}, "total": 1}
    recs = read_records(select_store(str(jd)))
    assert len(recs) == 3 and len({r.pid for r in recs}) == 3
    assert sum(r.tasks for r in recs) == 31
    for i in range(3):
        assert re.search(rf"^\[w{i}\] jug \[.*\] worker .* started", p.stderr, re.M)
    untagged = [ln for ln in (p.stderr + p.stdout).splitlines()
                if ln and not re.match(r"\[w[0-2]\] ", ln)]
    assert untagged == []
    assert _locks(jd) == {}


def test_a_killed_child_loses_nothing_and_the_parent_says_so(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 6)
    jd = tmp_path / "d"
    proc = start_jug("execute", jf, "--jugdir", jd, "-j", "3", env={"WAIT_GATE": "1"})
    try:
        locks = wait_until(lambda: len(_locks(jd)) == 3 and _locks(jd), what="3 running tasks")
        kids = set(_children(proc))
        owners = {o["pid"] for o in locks.values()}
        assert owners == kids  # each child locks with its own pid
        victim = sorted(owners)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not _alive(victim), what="the killed child to be reaped")
        (tmp_path / "gate").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert re.search(rf"jug: worker w\d \(pid {victim}\) was killed by SIGKILL", err)
    assert "reclaim" in err.lower()
    assert _marks(tmp_path) == {**{f"work{i}": 1 for i in range(6)}, "total": 1}
    assert _locks(jd) == {}


def test_sigterm_to_the_parent_drains_every_child(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 6)
    jd = tmp_path / "d"
    proc = start_jug("execute", jf, "--jugdir", jd, "-j", "3", env={"WAIT_GATE": "1"})
    try:
        wait_until(lambda: len(_locks(jd)) == 3, what="3 running tasks")
        kids = _children(proc)
        st = status(jf, jd)  # jug status counts each forked worker
        assert st["progress"]["live_workers"] == 3 and st["locks"]["count"] == 3
        assert {o["pid"] for o in st["locks"]["owners"]} == set(kids)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 143, err
    assert len(re.findall(r"\[w\d\] jug: received SIGTERM; released the lock", err)) == 3, err
    assert not any(_alive(k) for k in kids)
    assert _locks(jd) == {} and _marks(tmp_path) == {}


def test_kill_9_of_the_parent_leaves_no_orphan_and_no_lock(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 6)
    jd = tmp_path / "d"
    proc = start_jug("execute", jf, "--jugdir", jd, "-j", "3", env={"WAIT_GATE": "1"})
    try:
        wait_until(lambda: len(_locks(jd)) == 3, what="3 running tasks")
        kids = _children(proc)
        assert len(kids) == 3
        proc.kill()
        proc.wait(timeout=10)
        wait_until(lambda: not any(_alive(k) for k in kids), timeout=20,
                   what="the orphaned children to drain")
    finally:
        stop(proc)
    assert _locks(jd) == {}
    assert _marks(tmp_path) == {}


def test_exit_status_is_the_most_severe_child_status(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 6)
    p = run_jug("execute", jf, "--jugdir", tmp_path / "d", "-j", "2", env={"FAIL": "3"})
    assert p.returncode == 1, p.stderr
    assert re.search(r"jug: worker w\d \(pid \d+\) exited with status 1", p.stderr)
    assert sorted([0, 1, 143, 2, 137], key=severity) == [0, 1, 143, 2, 137]
    end = ChildEnd.of(2, 99, 9)  # raw wait status of a SIGKILL
    assert end.status == 137 and end.describe() == "worker w2 (pid 99) was killed by SIGKILL"


def test_worker_count_values(tmp_path: Path) -> None:
    assert worker_count("auto") == "auto" and worker_count(" 8 ") == 8
    assert allowed_cpus() == len(os.sched_getaffinity(0))
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(ValueError):
            worker_count(bad)
    p = run_jug("execute", _jugfile(tmp_path), "-j", "lots")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].endswith(
        "argument -j/--jobs: expected a whole number of workers >= 1 or 'auto', got 'lots'")


def test_j_auto_uses_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 4)
    p = run_jug("execute", jf, "--jugdir", tmp_path / "d", "-j", "auto")
    assert p.returncode == 0, p.stderr
    started = set(re.findall(r"^\[w(\d+)\] jug \[.*\] worker .* started", p.stderr, re.M))
    assert len(started) == allowed_cpus(), p.stderr


def test_tagged_stream_prefixes_each_line_once() -> None:
    import io

    inner = io.StringIO()
    t = _Tagged(inner, 4)
    t.write("a")
    t.write("b\nc\n\n")
    t.write("d")
    t.flush()
    assert inner.getvalue() == "[w4] ab\n[w4] c\n\n[w4] d"


def test_a_barrier_is_passed_by_each_child_as_by_separate_workers(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, WORK.replace("range(N)", "range(4)") + """
from jug import barrier, value
barrier()
after = [work(100 + i) for i in range(value(result) % 7)]
""")
    p = run_jug("execute", jf, "--jugdir", tmp_path / "d", "-j", "2")
    assert p.returncode == 0, p.stderr
    n = sum(i * i for i in range(4)) % 7
    assert _marks(tmp_path) == {**{f"work{i}": 1 for i in range(4)}, "total": 1,
                                **{f"work{100 + i}": 1 for i in range(n)}}


def test_the_parent_loads_once(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, WORK.replace("range(N)", "range(4)") + """
mark("load")
""")
    started = time.time()
    p = run_jug("execute", jf, "--jugdir", tmp_path / "d", "-j", "3")
    assert p.returncode == 0, p.stderr and time.time() >= started
    assert _marks(tmp_path)["load"] == 1


def test_tagged_stream_writes_whole_lines_at_once() -> None:
    import io

    class Writes(io.StringIO):
        calls: list[str] = []

        def write(self, s: str) -> int:
            self.calls.append(s)
            return super().write(s)

    inner = Writes()
    t = _Tagged(inner, 1)
    print("one", "two", file=t)
    t.write("x")
    assert inner.calls == ["[w1] one two\n"]
    t.flush()
    t.write("y\n")
    assert inner.calls == ["[w1] one two\n", "[w1] x", "y\n"]


def test_gpus_are_dealt_round_robin() -> None:
    from jug.engine.forked import gpu_share

    assert [gpu_share("0,1,2,3", i, 2) for i in range(2)] == ["0,2", "1,3"]
    assert [gpu_share("0,1,2,3", i, 4) for i in range(4)] == ["0", "1", "2", "3"]
    assert [gpu_share("5,7", i, 3) for i in range(3)] == ["5", "7", "5"]
    assert gpu_share("", 1, 4) == "" and gpu_share("0,1", 0, 1) == "0,1"


def test_each_forked_worker_sees_its_share_of_the_gpus(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, """
import os, time
from jug import TaskGenerator

@TaskGenerator
def seen(i):
    time.sleep(0.3)
    return (os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES"))

out = [seen(i) for i in range(4)]
""")
    jd = tmp_path / "d"
    p = run_jug("execute", jf, "--jugdir", jd, "-j", "2", env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    assert p.returncode == 0, p.stderr
    store = select_store(str(jd))
    seen = {store.load(k) for k in store.list()}
    by_pid: dict[int, set] = {}
    for pid, devices in seen:
        by_pid.setdefault(pid, set()).add(devices)
    assert sorted(d for s in by_pid.values() for d in s) == ["0,2", "1,3"]


def test_the_integrity_check_is_made_once_for_all_workers(tmp_path: Path) -> None:
    jf = _jugfile(tmp_path, 6)
    jd = tmp_path / "d"
    assert run_jug("execute", jf, "--jugdir", jd).returncode == 0
    store = select_store(str(jd))
    victim = sorted(store.list())[0]
    path = jd / "results" / victim[:2] / victim[2:]
    path.write_bytes(b"garbage")
    (tmp_path / "marks").rename(tmp_path / "marks-before")
    p = run_jug("execute", jf, "--jugdir", jd, "-j", "3")
    assert p.returncode == 0, p.stderr
    assert sum(_marks(tmp_path).values()) == 1  # only the corrupt result was computed again
    assert len([ln for ln in p.stderr.splitlines() if "corrupt" in ln.lower()]) == 1, p.stderr
