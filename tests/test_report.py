"""The allocation report's arithmetic (jug.hpc.report): worker records in, figures out."""

from __future__ import annotations

import pytest

from jug.hpc.report import ALL, build, format_report, split_worker
from jug.schedulers.base import Elapsed
from jug.schedulers.slurm import Slurm
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
