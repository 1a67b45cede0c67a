"""Bounded records (issue 24): run times and worker records of workers that left are folded
into one document each, so what a start, a poll or a status reads does not grow with the
number of workers that ever ran; figures survive the folding; ``typical()`` uses the most
recent runs; ``jug cleanup`` compacts too."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import ok, status, write_jugfile

from jug.backends import select_store
from jug.backends.owner import HOST, process_start
from jug.hpc.report import ALL, build
from jug.state import shifts, timings
from jug.state.compaction import compact
from jug.state.shifts import read_shifts
from jug.state.timings import COMPACTED, KEEP_RECENT, Durations

NOW = time.time()


def _gone_pid() -> int:
    """The pid of a process that has exited (a dead worker of this host)."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True).stdout
    return int(out)


def _timings_doc(i: int, seconds: float, runs: int, final: bool = True) -> dict:
    return {"tasks": {"jugfile.work": {"count": runs, "total": seconds * runs,
                                        "recent": [seconds] * min(runs, 20)}},
            "time": NOW - 1000 + i, "finished": {"width": 10.0, "buckets": [[NOW - 1000, runs]]},
            "host": HOST, "pid": os.getpid(), "started": process_start(), "final": final}


def _record(i: int, pool: str = "cpu", reason: str = "no work left", ended: bool = True,
            pid: int | None = None) -> dict:
    started = NOW - 500 + i if ended or pid else process_start()  # alive: this process
    return {"name": f"w{i}", "host": HOST, "pid": pid or os.getpid(), "job": None,
            "element": None, "pool": pool, "jugfile": "/p/jugfile.py", "started": started,
            "ended": NOW - 100 + i if ended else None, "reason": reason if ended else "running",
            "busy_seconds": 300.0, "idle_seconds": 10.0, "tasks": 7, "failed": 1,
            "spawned": NOW - 501 + i, "first_task": NOW - 480 + i, "last_task": NOW - 150 + i}


@pytest.fixture(params=["dict", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    return select_store("dict_store" if request.param == "dict" else str(tmp_path / "s"))


def test_run_times_of_workers_that_left_fold_into_one_document(store) -> None:
    for i in range(150):
        store.write_doc("timings", f"w{i}", _timings_doc(i, 2.0, 10))
    store.write_doc("timings", "running", _timings_doc(999, 5.0, 3, final=False))
    before = Durations.from_store(store)
    assert timings.compact(store, now=NOW) == 150
    assert set(store.read_docs("timings")) == {COMPACTED, "running"}  # the live one stays
    after = Durations.from_store(store)
    assert after.count == before.count == {"jugfile.work": 1503}
    assert after.mean("jugfile.work") == pytest.approx(before.mean("jugfile.work"))
    assert len(after.recent["jugfile.work"]) <= KEEP_RECENT + 20
    assert timings.compact(store, now=NOW) == 0  # nothing more to fold


def test_typical_uses_the_most_recent_runs(store) -> None:
    old, new = _timings_doc(0, 50.0, 400), _timings_doc(1, 1.0, 20)
    old["tasks"]["jugfile.work"]["recent"] = [50.0] * 20
    store.write_doc("timings", "new", new)  # written first, but its runs are the later ones
    store.write_doc("timings", "old", old)
    timings.compact(store, now=NOW)
    for i in range(2, 2 + KEEP_RECENT // 20):  # enough later runs to fill what typical() reads
        store.write_doc("timings", f"w{i}", _timings_doc(i, 1.0, 20))
    assert Durations.from_store(store).typical("jugfile.work") == 1.0
    timings.compact(store, now=NOW)
    assert Durations.from_store(store).typical("jugfile.work") == 1.0


def test_a_killed_workers_run_times_are_folded_and_a_live_ones_are_not(store) -> None:
    dead = _timings_doc(0, 1.0, 4, final=False)
    dead["pid"] = _gone_pid()
    store.write_doc("timings", "killed", dead)
    store.write_doc("timings", "alive", _timings_doc(1, 1.0, 4, final=False))  # this process
    remote = _timings_doc(2, 1.0, 4, final=False)
    remote["host"], remote["time"] = "elsewhere", NOW - 2 * timings.ABANDONED
    store.write_doc("timings", "abandoned", remote)
    assert timings.compact(store, now=NOW) == 2
    assert set(store.read_docs("timings")) == {COMPACTED, "alive"}


def test_worker_records_beyond_the_recent_ones_fold_into_a_summary(store) -> None:
    for i in range(100):
        store.write_doc("workers", f"w{i}", _record(i, pool="cpu" if i % 2 else "gpu",
                                                    reason="budget" if i % 10 == 0 else
                                                    "no work left"))
    store.write_doc("workers", "live", {**_record(200, ended=False), "name": "live"})
    full = read_shifts(store)
    report_before = build(full.records, now=NOW)
    assert shifts.compact(store, now=NOW, keep=10) == 90
    assert len(store.read_docs("workers")) == 12  # 10 recent, the live one, the summary
    kept = read_shifts(store)
    assert kept.workers == full.workers == 101 and kept.exits() == full.exits()
    assert [r.name for r in kept.records][-1] == "live"
    report_after = build(kept.records, now=NOW, past=kept.past)
    for pool in ("cpu", "gpu", ALL):
        b, a = report_before[pool].as_json(), report_after[pool].as_json()
        assert a.pop("left_early") == b.pop("left_early"), pool
        assert a == pytest.approx(b), pool


def test_a_record_never_closed_by_a_dead_worker_is_folded(store) -> None:
    store.write_doc("workers", "killed", {**_record(1, ended=False, pid=_gone_pid()),
                                          "name": "killed"})
    assert shifts.compact(store, now=NOW, keep=0) == 1
    past = read_shifts(store).past
    assert [(p.workers, p.exits) for p in past] == [(1, {"error": 1})]


def _compact_in_child(spec: str, start) -> None:  # runs in a child process
    start.wait()
    compact(select_store(spec))


def test_concurrent_compactions_count_every_worker_once(tmp_path: Path) -> None:
    spec = str(tmp_path / "s")
    store = select_store(spec)
    for i in range(120):
        store.write_doc("timings", f"w{i}", _timings_doc(i, 1.0, 5))
        store.write_doc("workers", f"w{i}", _record(i))
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_compact_in_child, args=(spec, start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert Durations.from_store(store).count == {"jugfile.work": 600}
    assert read_shifts(store).workers == 120
    assert len(store.read_docs("timings")) == 1
    assert len(store.read_docs("workers")) == shifts.KEEP_ENDED + 1


TINY = """
from jug import TaskGenerator

@TaskGenerator
def work(i):
    return i

xs = [work(i) for i in range({n})]
"""


def test_each_worker_folds_its_run_times_as_it_leaves_and_cleanup_compacts(tmp_path: Path
                                                                          ) -> None:
    jd = tmp_path / "d.jugdata"
    for n in (3, 6, 9):  # three workers, one after the other, each with new tasks
        jf = write_jugfile(tmp_path, TINY.format(n=n))
        ok("execute", jf, "--jugdir", jd)
        docs = select_store(str(jd)).read_docs("timings")
        assert set(docs) == {COMPACTED}, "a worker's own run times are folded as it leaves"
    assert status(jf, jd)["durations"]["jugfile.work"]["runs"] == 9
    store = select_store(str(jd))
    store.write_doc("timings", "killed", {**_timings_doc(0, 1.0, 2, final=False),
                                          "pid": _gone_pid()})
    p = ok("cleanup", jf, "--jugdir", jd)
    assert "Compacted the records of workers that left: 1 run-time document(s)" in p.stdout
    assert set(store.read_docs("timings")) == {COMPACTED}
    assert status(jf, jd)["durations"]["jugfile.work"]["runs"] == 11
