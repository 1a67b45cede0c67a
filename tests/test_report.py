"""The allocation report's arithmetic (jug.hpc.report): worker records in, figures out."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import ok, run_jug, write_jugfile

from jug.backends import select_store
from jug.hpc.report import ALL, build, format_report, split_worker
from jug.schedulers.base import Elapsed
from jug.schedulers.slurm import Slurm
from jug.state.invalidations import read as read_invalidations
from jug.state.shifts import WorkerRecord


def rec(pool: str | None, started: float, ended: float | None, busy: float, first: float | None,
        last: float | None, tasks: int, reason: str = "no work left",
        job: dict | None = None) -> WorkerRecord:
    return WorkerRecord(name=f"w{started}", host="h", pid=1, job=job, element=None, pool=pool,
                        jugfile="/x/wf.py", started=started, ended=ended, reason=reason,
                        busy_seconds=busy, tasks=tasks, first_task=first, last_task=last)


def test_one_worker_splits_into_start_middle_tail() -> None:
    # 100s allocated: 5s start-up, tasks from 5 to 95 with 80s busy, 5s tail
    r = rec("gpu", 1000.0, 1100.0, 80.0, 1005.0, 1095.0, 8)
    assert split_worker(r, now=0.0) == (100.0, 5.0, 10.0, 5.0)
    idle = rec("gpu", 0.0, 30.0, 0.0, None, None, 0)
    assert split_worker(idle, now=0.0) == (30.0, 30.0, 0.0, 0.0)
    running = rec("gpu", 0.0, None, 4.0, 1.0, 5.0, 1, reason="running")
    assert split_worker(running, now=10.0) == (10.0, 1.0, 0.0, 5.0)
    r.spawned = 998.0  # interpreter start-up before the record: allocated, idle at start
    assert split_worker(r, now=0.0) == (102.0, 7.0, 10.0, 5.0)


def test_pools_and_all_row() -> None:
    records = [rec("gpu", 0.0, 100.0, 90.0, 5.0, 95.0, 2),
               rec("default", 0.0, 50.0, 40.0, 2.0, 48.0, 10),
               rec("default", 0.0, 50.0, 20.0, 2.0, 30.0, 5, reason="signal"),
               rec(None, 0.0, 10.0, 0.0, None, None, 0, reason="budget")]
    acc = build(records, finished={"gpu": 2, "default": 14}, now=200.0)
    assert list(acc) == ["default", "gpu", ALL]
    d, g, a = acc["default"], acc["gpu"], acc[ALL]
    assert (d.workers, d.allocated, d.task_seconds) == (3, 110.0, 60.0)
    assert d.efficiency == pytest.approx(60 / 110)
    assert (d.idle_start, d.idle_middle, d.idle_tail) == (14.0, 14.0, 22.0)
    assert d.left_early == {"signal": 1, "budget": 1}  # no pool recorded: default
    assert d.reruns == 1 and g.reruns == 0  # 15 executions for 14 finished tasks
    assert g.efficiency == pytest.approx(0.9)
    assert (a.workers, a.allocated, a.task_seconds, a.reruns) == (4, 210.0, 150.0, 1)
    assert a.efficiency == pytest.approx(150 / 210)
    # every allocated second is accounted for exactly once
    assert a.allocated == pytest.approx(a.task_seconds + a.idle_start + a.idle_middle
                                        + a.idle_tail)
    text = format_report(acc, accounting=None)
    assert "71%" in text and "1 budget, 1 signal" in text and "worker records only" in text


def test_sacct_adds_queue_wait_and_unrecorded_seconds() -> None:
    out = Slurm({"user": "me"}).parse_accounting("\n".join([
        "77_0|2026-11-30T10:00:00|2026-11-30T10:00:10|2026-11-30T10:01:52",
        "77_0.batch|2026-11-30T10:00:10|2026-11-30T10:00:10|2026-11-30T10:01:52",
        "77_1|2026-11-30T10:00:00|2026-11-30T10:00:30|Unknown",
        "77_[2-5]|2026-11-30T10:00:00|Unknown|Unknown",
        "78|2026-11-30T10:00:00|2026-11-30T10:00:01|2026-11-30T10:00:02"]))
    assert list(out) == [("77", "0"), ("77", "1")]
    e = out[("77", "0")]
    assert (e.start - e.submit, e.end - e.start) == (10.0, 102.0)
    assert out[("77", "1")].end is None
    job = {"scheduler": "slurm", "array_job_id": "77", "array_task_id": "0"}
    r = rec("default", 5000.0, 5100.0, 90.0, 5001.0, 5099.0, 3, job=job)
    acc = build([r], accounting={("77", "0"): Elapsed(0.0, 10.0, 112.0)}, now=0.0)["default"]
    assert (acc.allocated, acc.unrecorded, acc.queue_wait) == (102.0, 2.0, 10.0)
    assert acc.finished is None and acc.reruns is None
    text = format_report({"all": acc}, accounting=Slurm.accounting_name)
    assert "2.0s allocated outside the jug processes" in text
    assert text.splitlines()[-1].startswith("SLURM accounting (sacct): 10.0s queued")


def test_webstatus_fragment_shows_the_allocation_table() -> None:
    from jug.hpc.report import report_json
    from jug.status.webcharts import ChartData, render

    acc = build([rec("g<p>u", 0.0, 100.0, 90.0, 5.0, 95.0, 2, reason="signal")], now=0.0)
    html = render(ChartData(now=1000.0, total=5, finished=0, eta=None, progress=[],
                            report=report_json(acc)))
    assert 'id="allocation"' in html and "<td>90%</td>" in html and "g&lt;p&gt;u" in html
    assert "<td>1 signal</td>" in html
    assert 'id="allocation"' not in render(ChartData(now=1.0, total=1, finished=0, eta=None,
                                                     progress=[]))


def test_accounting_is_asked_through_the_adapter(tmp_path, monkeypatch) -> None:
    """sacct is the SLURM adapter's: it runs the command, and adapters without accounting
    (or a sacct that fails, as on clusters without accounting) give None, never an error."""
    from jug.schedulers.pbs import PBS

    fake = tmp_path / "sacct"
    fake.write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args\"\n"
                    "echo '5_1|2026-11-30T10:00:00|2026-11-30T10:00:04|Unknown'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    seen = Slurm({"user": "me"}).accounting(["5", "5"])
    assert seen == {("5", "1"): Elapsed(seen[("5", "1")].submit, seen[("5", "1")].submit + 4,
                                        None)}
    assert (tmp_path / "args").read_text().split()[-2:] == ["-j", "5"]
    assert PBS({"user": "me"}).accounting(["5"]) is None and PBS.accounting_name == ""
    fake.write_text("#!/bin/sh\necho 'accounting storage is disabled' >&2; exit 1\n")
    assert Slurm({"user": "me"}).accounting(["5"]) is None
    assert Slurm({"user": "me"}).accounting([]) is None


# -- issue 21, item 6: recomputes after jug invalidate, and the report's scope --------------
def test_invalidated_results_computed_again_are_recomputes_not_reruns() -> None:
    records = [rec(None, 0.0, 10.0, 5.0, 1.0, 9.0, 68),  # the first run: 68 tasks
               rec(None, 20.0, 30.0, 5.0, 21.0, 29.0, 67 + 2)]  # 67 again + 2 done twice
    acc = build(records, finished={"default": 68}, invalidated={"default": 67}, now=40.0)
    d = acc["default"]
    assert (d.executions, d.recomputes, d.reruns) == (137, 67, 2)
    assert (acc[ALL].recomputes, acc[ALL].reruns) == (67, 2)
    # without the invalidation record, the same counts are 69 reruns (the old arithmetic)
    assert build(records, finished={"default": 68}, now=40.0)["default"].reruns == 69
    text = format_report(acc, accounting=None)
    assert "recomputes reruns" in text and "67 results removed in this scope" in text


def test_all_row_sums_the_pools_recomputes_and_reruns() -> None:
    records = [rec("a", 0.0, 10.0, 5.0, 1.0, 9.0, 10), rec("b", 0.0, 10.0, 5.0, 1.0, 9.0, 0)]
    acc = build(records, finished={"a": 5, "b": 0}, invalidated={"b": 5}, now=20.0)
    assert (acc["a"].reruns, acc["b"].recomputes) == (5, 0)  # b's invalidation explains no run of a
    assert (acc[ALL].recomputes, acc[ALL].reruns) == (0, 5)


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@given(st.lists(st.tuples(st.integers(0, 400), st.sampled_from("dhms")), min_size=1,
                max_size=4), st.floats(1e9, 2e9))
def test_since_durations_count_back_from_now(parts: list, now: float) -> None:
    from jug.hpc.report import parse_since

    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_since(text, now) == pytest.approx(now - sum(n * _UNITS[u] for n, u in parts))
    assert parse_since(text.upper(), now) == parse_since(text, now)


@given(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)))
def test_since_iso_times_are_local_times(when: datetime) -> None:
    from jug.hpc.report import parse_since

    when = when.replace(microsecond=0)
    assert parse_since(when.isoformat(), 0.0) == when.astimezone().timestamp()


@given(st.text(max_size=12))
def test_since_refuses_anything_else_with_one_line(text: str) -> None:
    from jug.hpc.report import ScopeError, parse_since

    try:
        parse_since(text, 1e9)
    except ScopeError as e:
        assert "\n" not in str(e) and "2h" in str(e)


def test_chain_scope_keeps_the_chains_workers_and_its_start() -> None:
    from jug.hpc.chain.records import Chain, Generation
    from jug.hpc.report import ScopeError, chain_scope

    chain = Chain(jugfile="/x/wf.py", jugdir="/x/d", workdir="/x", scheduler="slurm",
                  settings={}, jugfile_args=[], max_workers=2, max_queued=None,
                  max_generations=5, stale_after=300.0, started=1000.0)
    chain.generations = [Generation(n=1, arrays=["101"], workers=2, submitted=1000.0, by="x",
                                    after=0, finished_before=10, planner="201"),
                         Generation(n=2, arrays=["102"], workers=2, submitted=1100.0, by="x",
                                    after=1, finished_before=14)]
    scope = chain_scope(chain)
    assert scope.arrays == {"101", "102"} and scope.finished_at_start == {"default": 10}
    job = {"scheduler": "slurm", "array_job_id": "102", "array_task_id": "0"}
    inside = rec(None, 1200.0, 1300.0, 50.0, 1210.0, 1290.0, 5, job=job)
    outside = rec(None, 1200.0, 1300.0, 50.0, 1210.0, 1290.0, 5,
                  job=dict(job, array_job_id="99"))
    assert scope.covers(inside) and not scope.covers(outside)
    assert not scope.covers(rec(None, 1200.0, 1300.0, 5.0, None, None, 1))  # not in an array
    assert chain_scope(chain, "201").arrays == scope.arrays  # by its planner job's id too
    with pytest.raises(ScopeError, match=r"--chain 555: not a job of the chain .*101, 102"):
        chain_scope(chain, "555")


# -- the same through the command line ---------------------------------------------------------
SWEEP = """
from jug import TaskGenerator

@TaskGenerator
def sim(i):
    return i * 2

@TaskGenerator
def total(xs):
    return sum(xs)

t = total([sim(i) for i in range(5)])
"""
ENV = {"JUG_SUBMIT_CONFIG": "/nonexistent.yaml"}


def _report(tmp_path: Path, *extra: str) -> dict[str, list[str]]:
    """``jug submit --report`` as ``{pool: row fields}`` plus ``"text"``: the whole output."""
    out = ok("submit", "--report", *extra, "wf.py", cwd=tmp_path, env=ENV).stdout
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[2:] if ln.split()}
    return {**rows, "text": [out]}


def test_report_counts_a_recompute_after_invalidate_as_a_recompute(tmp_path: Path) -> None:
    write_jugfile(tmp_path, SWEEP, "wf.py")
    ok("execute", "wf.py", cwd=tmp_path)
    p = ok("invalidate", "--target", "sim", "wf.py", cwd=tmp_path)
    assert "Total: 6 result(s)" in p.stdout
    ok("execute", "wf.py", cwd=tmp_path)
    row = _report(tmp_path)["all"]
    assert row[1] == "2" and row[-3:] == ["6", "0", "-"]  # 2 workers, 6 recomputes, 0 reruns
    invs = read_invalidations(select_store(str(tmp_path / "wf.jugdata")))
    assert [i.tasks for i in invs] == [{"wf.sim": 5, "wf.total": 1}]
    ok("invalidate", "--target", "sim", "--dry-run", "wf.py", cwd=tmp_path)  # records nothing
    assert len(read_invalidations(select_store(str(tmp_path / "wf.jugdata")))) == 1


def _worker(store: object, name: str, started: float, tasks: int, array: str | None) -> None:
    job = None if array is None else {"scheduler": "slurm", "array_job_id": array,
                                      "array_task_id": "0", "queue_id": f"{array}_0"}
    r = WorkerRecord(name=name, host="node1", pid=int(started) % 100000, job=job, element=None,
                     pool=None, jugfile=str(store.path).replace("wf.jugdata", "wf.py"),  # type: ignore[attr-defined]
                     started=started, ended=started + 60, reason="no work left",
                     busy_seconds=30.0, tasks=tasks, first_task=started + 1,
                     last_task=started + 50)
    store.write_doc("workers", name, r.__dict__)  # type: ignore[attr-defined]


def test_report_since_covers_the_workers_that_started_in_the_window(tmp_path: Path) -> None:
    write_jugfile(tmp_path, SWEEP, "wf.py")
    store = select_store(str(tmp_path / "wf.jugdata"))
    now = time.time()
    _worker(store, "old", now - 3 * 3600, 6, None)
    _worker(store, "new", now - 600, 3, None)
    assert _report(tmp_path)["all"][1] == "2"
    rep = _report(tmp_path, "--since", "2h")
    assert rep["all"][1] == "1" and rep["all"][-3:] == ["?", "?", "-"]
    assert "workers that started since" in rep["text"][0]
    assert "unknown for a time window" in rep["text"][0]
    stamp = datetime.fromtimestamp(now - 4 * 3600).strftime("%Y-%m-%dT%H:%M")
    assert _report(tmp_path, "--since", stamp)["all"][1] == "2"
    p = run_jug("submit", "--report", "--since", "yesterday", "wf.py", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "2h" in p.stderr
    p = run_jug("submit", "--since", "2h", "wf.py", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and "add --report" in p.stderr


def test_report_chain_covers_the_chains_arrays(tmp_path: Path) -> None:
    from jug.hpc.chain.records import Chain, Generation

    write_jugfile(tmp_path, SWEEP, "wf.py")
    ok("execute", "wf.py", cwd=tmp_path)  # 6 finished before the chain (its own record)
    store = select_store(str(tmp_path / "wf.jugdata"))
    now = time.time()
    chain = Chain(jugfile=str(tmp_path / "wf.py"), jugdir=str(tmp_path / "wf.jugdata"),
                  workdir=str(tmp_path), scheduler="slurm", settings={}, jugfile_args=[],
                  max_workers=2, max_queued=None, max_generations=5, stale_after=300.0,
                  started=now - 1000, status="done")
    chain.generations = [Generation(n=1, arrays=["101"], workers=1, submitted=now - 1000,
                                    by="jug submit", after=0, finished_before=6)]
    chain.save(store)
    _worker(store, "in-chain", now - 900, 2, "101")  # 2 executions, nothing newly finished
    _worker(store, "other", now - 800, 5, "300")
    rep = _report(tmp_path, "--chain", "latest")
    assert rep["all"][1] == "1" and rep["all"][-3:] == ["0", "2", "-"]
    assert "the --until-done chain started" in rep["text"][0]
    assert _report(tmp_path, "--chain", "101")["all"][1] == "1"
    p = run_jug("submit", "--report", "--chain", "300", "wf.py", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and "not a job of the chain" in p.stderr and "--since" in p.stderr
    p = run_jug("submit", "--report", "--chain", "wf.py", cwd=tmp_path, env=ENV)
    assert p.returncode == 2 and "--chain latest wf.py" in p.stderr


def test_core_seconds_granted_and_idle_cores_of_jobs_of_k_workers() -> None:
    from jug.hpc.report import Grant
    from jug.state.shifts import WorkerRecord

    def worker(index: str, start: float, end: float, busy: float) -> WorkerRecord:
        return WorkerRecord(name=f"w{index}-{start}-{end}", host="h", pid=1, element=index,
                            pool=None, jugfile="/j.py", started=start, ended=end,
                            busy_seconds=busy, first_task=start, last_task=end, tasks=1,
                            reason="no work",
                            job={"array_job_id": "42", "array_task_id": index})

    # one element of 4 workers (4 cores) for 100 s; two workers left after 40 s
    recs = [worker("0", 0.0, 100.0, 90.0), worker("0", 0.0, 100.0, 90.0),
            worker("0", 0.0, 40.0, 30.0), worker("0", 0.0, 40.0, 30.0)]
    grant = Grant.of({"workers_per_job": 4, "cpus_per_job": 4})
    acc = build(recs, grants={"42": grant}, now=200.0)["all"]
    assert acc.core_seconds == 400.0 and acc.idle_cores == 400.0 - 280.0
    assert acc.task_seconds == 240.0
    node = Grant.of({"workers_per_job": 4, "cpus_per_job": 4, "exclusive": True,
                     "cores_per_node": 16})
    whole = build(recs, grants={"42": node}, now=200.0)["all"]
    assert whole.core_seconds == 1600.0 and whole.idle_cores == 1600.0 - 280.0
    text = format_report(build(recs, grants={"42": grant}, now=200.0), None)
    assert "core-seconds granted: 400s" in text and "against 240s task-seconds (60%)" in text
    plain = build(recs, now=200.0)["all"]  # no array record: one core per worker
    assert plain.core_seconds == 280.0 and plain.idle_cores == 0.0
