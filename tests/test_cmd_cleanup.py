"""``jug cleanup``: unreferenced results, failure marks and dead locks go; live locks stay."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import (
    CHAIN,
    make_jugdir,
    marks,
    ok,
    run_jug,
    start_jug,
    status,
    stop,
    wait_until,
    write_jugfile,
)

from jug.backends import select_store

HOST = socket.gethostname()


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def jugdir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The file store, and Redis."""
    return make_jugdir(request.param, request, tmp_path)


@pytest.fixture
def sleeper() -> subprocess.Popen:
    """A live local process (its pid owns 'live' locks in these tests)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p
    p.kill()
    p.wait()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not psutil.pid_exists(p.pid)
    return p.pid


def _owner(**kw: object) -> dict:
    now = time.time()
    base = {"host": HOST, "pid": os.getpid(), "started": now, "locked_at": now,
            "heartbeat": now, "job": None}
    base.update(kw)
    return base


def _plant_locks(jugdir: str, sleeper: subprocess.Popen) -> None:
    """One lock per liveness case, keyed by what the test expects."""
    store = select_store(jugdir)
    now = time.time()
    created = psutil.Process(sleeper.pid).create_time()
    cases = {
        "a" * 40: _owner(pid=_dead_pid()),  # dead: pid gone on this host
        "b" * 40: _owner(pid=sleeper.pid, started=created - 1000),  # dead: pid reused
        "c" * 40: _owner(host="elsewhere", pid=1, heartbeat=now - 5000,
                         locked_at=now - 6000),  # dead: heartbeat too old
        "d" * 40: _owner(host="elsewhere", pid=1, heartbeat=now - 10),  # live: fresh heartbeat
        "e" * 40: _owner(pid=sleeper.pid, started=created + 0.5,
                         heartbeat=now - 9000),  # live: running here (old heartbeat is moot)
        "f" * 40: {"note": "no owner information"},  # unknown
    }
    for key, owner in cases.items():
        assert store.lock(key, owner)
    store.close()


def _locks(jugdir: str) -> set[str]:
    store = select_store(jugdir)
    try:
        return {k[0] for k in store.list_locks()}
    finally:
        store.close()


def test_stale_removes_only_provably_dead_locks(tmp_path: Path, jugdir: str,
                                                sleeper: subprocess.Popen) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    _plant_locks(jugdir, sleeper)
    p = ok("cleanup", jf, "--jugdir", jugdir, "--stale", "--dry-run")
    assert _locks(jugdir) == set("abcdef") and "Would remove 3 lock(s) (owner provably dead), kept 3" in p.stdout
    p = ok("cleanup", jf, "--jugdir", jugdir, "--stale")
    assert _locks(jugdir) == set("def"), p.stdout
    assert "no longer exists" in p.stdout and "started after" in p.stdout
    assert "no heartbeat for" in p.stdout
    # --locks-only also takes the lock nobody can vouch for, never the live ones
    p = ok("cleanup", jf, "--jugdir", jugdir, "--locks-only")
    assert _locks(jugdir) == set("de"), p.stdout
    assert "Removed 1 lock(s) (owner not known to be alive), kept 2" in p.stdout
    # a tiny threshold does not make a process that runs here count as dead
    ok("cleanup", jf, "--jugdir", jugdir, "--stale", "--stale-after", "0.001")
    assert "e" in _locks(jugdir)


def test_plain_cleanup_removes_unreferenced_results_and_dead_locks(
        tmp_path: Path, jugdir: str, sleeper: subprocess.Popen) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    ok("execute", jf, "--jugdir", jugdir)
    # the new version drops 'other' and has more 'load' tasks
    write_jugfile(tmp_path, CHAIN.replace("others = [other(i) for i in range(2)]", "")
                  .replace("range(3)", "range(4)"))
    store = select_store(jugdir)
    old_failed = "9" * 40
    store.lock(old_failed, _owner())
    store.fail(old_failed, {"task": "jugfile.gone", "error": "x"})
    store.unlock(old_failed)
    n_before = len(list(store.list()))
    store.close()
    _plant_locks(jugdir, sleeper)
    p = ok("cleanup", jf, "--jugdir", jugdir)
    assert "Removed 3 unreferenced result(s) and 1 failure mark(s)" in p.stdout, p.stdout
    store = select_store(jugdir)
    assert len(list(store.list())) == n_before - 3  # other x2, report (new input)
    assert store.list_failed() == {}
    store.close()
    assert _locks(jugdir) == set("de")
    st = status(jf, jugdir)
    assert "jugfile.other" not in st["tasks"]
    assert st["tasks"]["jugfile.load"]["finished"] == 3  # kept: still referenced


def test_cleanup_refuses_while_a_barrier_hides_tasks(tmp_path: Path) -> None:
    src = """
    import os
    from jug import TaskGenerator, barrier
    MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marks")
    os.makedirs(MARKS, exist_ok=True)
    @TaskGenerator
    def first(i):
        return i
    @TaskGenerator
    def second(xs):
        open(os.path.join(MARKS, "second"), "a").write("x")
        return sum(xs)
    xs = [first(i) for i in range(3)]
    EXTRA
    barrier()
    total = second(xs)
    """
    jf = write_jugfile(tmp_path, src.replace("EXTRA", ""))
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    # a new task before the barrier: the barrier is unmet, 'second' is hidden behind it
    write_jugfile(tmp_path, src.replace("EXTRA", "extra = first(99)"))
    p = run_jug("cleanup", jf, "--jugdir", jd)
    assert p.returncode == 1 and "barrier" in p.stderr and "refusing" in p.stderr
    ok("execute", jf, "--jugdir", jd)
    assert marks(tmp_path) == {"second": 1}  # its result survived: not recomputed
    ok("cleanup", jf, "--jugdir", jd)  # past every barrier now
    assert status(jf, jd)["total"] == {"waiting": 0, "ready": 0, "running": 0,
                                       "finished": 5, "failed": 0, "crashed": 0}


def test_failed_only_clears_marks_and_tasks_rerun(tmp_path: Path, jugdir: str) -> None:
    src = """
    import os
    from jug import TaskGenerator
    FLAG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ok")
    @TaskGenerator
    def flaky(i):
        if not os.path.exists(FLAG):
            raise RuntimeError("not yet")
        return i
    ts = [flaky(i) for i in range(3)]
    """
    jf = write_jugfile(tmp_path, src)
    assert run_jug("execute", jf, "--jugdir", jugdir, "--keep-going").returncode != 0
    assert status(jf, jugdir)["total"]["failed"] == 3
    (tmp_path / "ok").write_text("")
    assert run_jug("execute", jf, "--jugdir", jugdir).returncode != 0  # still marked failed
    p = ok("cleanup", jf, "--jugdir", jugdir, "--failed-only")
    assert "Removed 3 failure mark(s): jugfile.flaky" in p.stdout
    ok("execute", jf, "--jugdir", jugdir)
    assert status(jf, jugdir)["total"]["finished"] == 3


def test_cleanup_never_removes_a_running_workers_lock(tmp_path: Path) -> None:
    src = """
    import os, time
    from jug import TaskGenerator
    HERE = os.path.dirname(os.path.abspath(__file__))
    @TaskGenerator
    def slow(i):
        open(os.path.join(HERE, "started"), "w").close()
        while not os.path.exists(os.path.join(HERE, "go")):
            time.sleep(0.05)
        open(os.path.join(HERE, f"ran{os.getpid()}"), "w").close()
        return i
    t = slow(1)
    """
    jf = write_jugfile(tmp_path, src)
    jd = tmp_path / "d.jugdata"
    worker = start_jug("execute", jf, "--jugdir", jd, "--heartbeat", "0")
    try:
        wait_until(lambda: (tmp_path / "started").exists(), what="the worker to start its task")
        for mode in ([], ["--locks-only"], ["--stale", "--stale-after", "0.001"]):
            p = ok("cleanup", jf, "--jugdir", jd, *mode)
            assert "Kept lock" in p.stdout and "is running on" in p.stdout, p.stdout
            assert len(_locks(str(jd))) == 1
        # a second worker cannot take the task while the first runs
        (tmp_path / "go").write_text("")
        assert worker.wait(timeout=30) == 0, stop(worker)
    finally:
        stop(worker)
    assert len(list(tmp_path.glob("ran*"))) == 1
    assert _locks(str(jd)) == set()


def test_conflicting_modes_are_refused(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    p = run_jug("cleanup", jf, "--locks-only", "--failed-only")
    assert p.returncode == 2 and "choose one of" in p.stderr


def test_a_lock_retaken_after_judging_is_kept(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    from types import SimpleNamespace

    from jug.commands import cleanup

    store = select_store(str(tmp_path / "d.jugdata"))
    dead = _owner(pid=_dead_pid())
    live = _owner()
    assert store.lock("a" * 40, live)  # a live worker took it since the listing below
    store.list_locks = lambda: {"a" * 40: dead}  # type: ignore[method-assign]
    args = SimpleNamespace(stale_after=300.0, dry_run=False)
    assert cleanup._clean_locks(store, args, strict=True) == (0, 1)
    assert store.lock_owner("a" * 40) == live
    assert "changed hands" in capsys.readouterr().out


def _record(store: object, jf: Path, name: str, ended_days_ago: float | None,
            started_days_ago: float, pid: int = 4242, host: str = "node9",
            array: str | None = None, started: float | None = None) -> None:
    from jug.state.shifts import WorkerRecord

    now = time.time()
    job = None if array is None else {"scheduler": "slurm", "array_job_id": array,
                                      "array_task_id": "0", "queue_id": f"{array}_0"}
    r = WorkerRecord(name=name, host=host, pid=pid, job=job, element=None, pool=None,
                     jugfile=str(jf), started=started or now - started_days_ago * 86400,
                     ended=None if ended_days_ago is None else now - ended_days_ago * 86400,
                     reason="running" if ended_days_ago is None else "budget", tasks=3)
    store.write_doc("workers", name, r.__dict__)  # type: ignore[attr-defined]


def test_cleanup_removes_old_worker_records_and_lists_names(
        tmp_path: Path, sleeper: subprocess.Popen) -> None:
    """Issue 21, items 6 and 12: worker records that no longer matter go with a plain cleanup;
    --dry-run names what would go (failure marks per task name, results, workers)."""
    from jug.hpc.chain.records import Chain, Generation

    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    store = select_store(str(jd))
    store.save("7" * 40, "a result of a task no longer defined")
    store.fail("8" * 40, {"task": "jugfile.gone", "error": "x"})
    store.fail("9" * 40, {"task": "jugfile.gone", "error": "y"})
    _record(store, jf, "old-left", 10, 10.1)
    _record(store, jf, "old-dead", None, 20)  # never wrote its exit, heartbeat long gone
    _record(store, jf, "recent", 1, 1.1)
    created = psutil.Process(sleeper.pid).create_time()
    _record(store, jf, "old-alive", None, 30, pid=sleeper.pid, host=HOST, started=created + 0.5)
    _record(store, jf, "old-chain", 9, 9.1, array="555")
    chain = Chain(jugfile=str(jf), jugdir=str(jd), workdir=str(tmp_path), scheduler="slurm",
                  settings={}, jugfile_args=[], max_workers=1, max_queued=None,
                  max_generations=30, stale_after=300.0, started=time.time() - 9.5 * 86400)
    chain.generations = [Generation(n=1, arrays=["555"], workers=1, submitted=chain.started,
                                    by="jug submit", after=0, finished_before=0)]
    chain.save(store)
    names = lambda: set(store.read_docs("workers"))  # noqa: E731
    before = names()

    dry = ok("cleanup", jf, "--jugdir", jd, "--dry-run").stdout
    assert "Would remove 1 unreferenced result(s) and 2 failure mark(s)" in dry
    assert "jugfile.gone       2 failure mark(s)" in dry and "777777777777" in dry
    assert "Would remove 2 worker record(s) of workers that left before" in dry
    assert "node9:4242: left" in dry and "budget, 3 tasks" in dry
    assert "never recorded its exit" in dry
    assert names() == before and store.list_failed()  # a dry run removes nothing

    assert "Removed 2 worker record(s)" in ok("cleanup", jf, "--jugdir", jd).stdout
    assert names() == {"recent", "old-alive", "old-chain"} | (before - {
        "old-left", "old-dead", "recent", "old-alive", "old-chain"})
    now = ok("cleanup", jf, "--jugdir", jd, "--records-older-than", "0s", "--dry-run").stdout
    assert "Would remove 2 worker record(s)" in now  # 'recent' and the execute above
    kept = ok("cleanup", jf, "--jugdir", jd, "--records-older-than", "never").stdout
    assert "worker record" not in kept
    p = run_jug("cleanup", jf, "--jugdir", jd, "--records-older-than", "soon")
    assert p.returncode == 2 and "'never'" in p.stderr and "Traceback" not in p.stderr
