"""Where the allocated worker-seconds went: per pool and in all (``jug submit --report``).

Built from the workers' shift records (:mod:`jug.state.shifts`: one document per worker,
written at start and exit) and, where the scheduler's accounting answers (its adapter's
``accounting``: ``sacct`` on SLURM), queue-to-start and the seconds the workers could not
record themselves: interpreter start-up, the time a kill took.

Per worker, its allocated seconds (from its process's start to its exit) split into *start
idle* (before its first task: interpreter start-up, loading the jugfile, waiting for a ready
task), *task seconds* (running tasks),
*middle idle* (between its first task's start and its last task's end, not running a task:
locks, dependencies, bookkeeping) and *tail idle* (after its last task until it left).
Efficiency = task seconds / allocated seconds.  *Reruns* = task executions beyond one per
finished task (killed or reclaimed work done twice).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from ..schedulers import get_scheduler
from ..schedulers.base import Elapsed, SchedulerError
from ..state.membership import assign
from ..state.shifts import ExitReason, WorkerRecord, read_records
from ..state.taskstate import unique_tasks

ALL = "all"
#: reasons that are not "left early": the work was done, or it still runs
_NORMAL = (ExitReason.NO_WORK.value, ExitReason.RUNNING.value)


@dataclass
class Account:
    """The seconds of one pool (or of all pools) and where they went."""

    pool: str
    workers: int = 0
    allocated: float = 0.0  # worker-seconds (sacct elapsed where known, else recorded)
    task_seconds: float = 0.0
    idle_start: float = 0.0
    idle_middle: float = 0.0
    idle_tail: float = 0.0
    unrecorded: float = 0.0  # allocated per sacct but outside the workers' own records
    queue_wait: float | None = None  # submit -> start per sacct (None: no sacct)
    executions: int = 0
    finished: int | None = None  # distinct finished tasks of the pool (None: unknown)
    left_early: dict[str, int] = field(default_factory=dict)  # reason -> workers

    @property
    def efficiency(self) -> float | None:
        """Task seconds per allocated worker-second (None: nothing allocated)."""
        return self.task_seconds / self.allocated if self.allocated > 0 else None

    @property
    def reruns(self) -> int | None:
        """Task executions beyond one per finished task (None: finished count unknown)."""
        if self.finished is None:
            return None
        return max(0, self.executions - self.finished)

    def add(self, other: Account) -> None:
        """Add ``other``'s figures to these (for the 'all' row)."""
        for name in ("workers", "allocated", "task_seconds", "idle_start", "idle_middle",
                     "idle_tail", "unrecorded", "executions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.queue_wait is not None:
            self.queue_wait = (self.queue_wait or 0.0) + other.queue_wait
        if other.finished is not None:
            self.finished = (self.finished or 0) + other.finished
        for reason, n in other.left_early.items():
            self.left_early[reason] = self.left_early.get(reason, 0) + n

    def as_json(self) -> dict[str, Any]:
        """The JSON form (with the derived figures)."""
        return {**asdict(self), "efficiency": self.efficiency, "reruns": self.reruns}


def split_worker(rec: WorkerRecord, now: float) -> tuple[float, float, float, float]:
    """(allocated, idle at start, idle in the middle, idle at the tail) of one worker."""
    end = rec.ended if rec.ended is not None else now
    begin = min(rec.started, rec.spawned) if rec.spawned else rec.started
    allocated = max(0.0, end - begin)
    if rec.first_task is None or rec.last_task is None:
        return allocated, allocated, 0.0, 0.0
    start_idle = max(0.0, rec.first_task - begin)
    tail = max(0.0, end - rec.last_task)
    middle = max(0.0, (rec.last_task - rec.first_task) - rec.busy_seconds)
    return allocated, start_idle, middle, tail


def element_key(rec: WorkerRecord) -> tuple[str, str] | None:
    """(array job id, element index) of a worker in a batch array, else None."""
    job = rec.job or {}
    array, index = job.get("array_job_id"), job.get("array_task_id")
    if array in (None, "") or index in (None, ""):
        return None
    return str(array), str(index)


def build(records: Iterable[WorkerRecord], finished: Mapping[str, int] | None = None,
          accounting: Mapping[tuple[str, str], Elapsed] | None = None,
          now: float | None = None) -> dict[str, Account]:
    """``{pool: Account}`` plus the ``all`` row (pure: records in, arithmetic out)."""
    now = time.time() if now is None else now
    out: dict[str, Account] = {}
    for rec in records:
        pool = rec.pool or "default"
        acc = out.setdefault(pool, Account(pool))
        allocated, start, middle, tail = split_worker(rec, now)
        acc.workers += 1
        acc.task_seconds += rec.busy_seconds
        acc.idle_start += start
        acc.idle_middle += middle
        acc.idle_tail += tail
        acc.executions += rec.tasks
        if rec.reason not in _NORMAL:
            acc.left_early[rec.reason] = acc.left_early.get(rec.reason, 0) + 1
        seen = (accounting or {}).get(element_key(rec) or ("", ""))
        if seen is not None:
            acc.queue_wait = (acc.queue_wait or 0.0) + max(0.0, seen.start - seen.submit)
            elapsed = max(0.0, (seen.end if seen.end is not None else now) - seen.start)
            acc.unrecorded += max(0.0, elapsed - allocated)
            allocated = max(allocated, elapsed)
        acc.allocated += allocated
    for pool, n in (finished or {}).items():
        out.setdefault(pool, Account(pool)).finished = n
    total = Account(ALL, finished=None if finished is None else 0)
    for acc in out.values():
        total.add(acc)
    return {**dict(sorted(out.items())), ALL: total}


# -- rendering ------------------------------------------------------------------------------
def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}s" if x >= 100 else f"{x:.1f}s"


def format_report(accounts: Mapping[str, Account], accounting: str | None) -> str:
    """The table ``jug submit --report`` prints, and one line on where the figures came from
    (``accounting``: the name of the scheduler accounting that answered, if any)."""
    head = (f"{'pool':<12} {'workers':>7} {'allocated':>10} {'tasks':>9} {'eff':>5} "
            f"{'idle start':>10} {'middle':>8} {'tail':>8} {'reruns':>6}  left early")
    lines = ["allocation report (worker-seconds)", head]
    for acc in accounts.values():
        eff = "-" if acc.efficiency is None else f"{100 * acc.efficiency:.0f}%"
        early = ", ".join(f"{n} {r}" for r, n in sorted(acc.left_early.items())) or "-"
        reruns = "?" if acc.reruns is None else str(acc.reruns)
        lines.append(f"{acc.pool:<12} {acc.workers:>7} {_secs(acc.allocated):>10} "
                     f"{_secs(acc.task_seconds):>9} {eff:>5} {_secs(acc.idle_start):>10} "
                     f"{_secs(acc.idle_middle):>8} {_secs(acc.idle_tail):>8} {reruns:>6}  "
                     f"{early}")
    total = accounts.get(ALL)
    if accounting and total is not None:
        lines.append(f"{accounting}: {_secs(total.queue_wait)} queued before "
                     f"start in all; {_secs(total.unrecorded)} allocated outside the jug "
                     f"processes (job start-up, kills), included in 'allocated'")
    else:
        lines.append("from the worker records only (no scheduler accounting: queue waits "
                     "and the job's time outside the jug process are not included)")
    return "\n".join(lines)


def report_json(accounts: Mapping[str, Account]) -> dict[str, Any]:
    """``{pool: figures}`` for ``jug status --json`` and webstatus."""
    return {pool: acc.as_json() for pool, acc in accounts.items()}


def for_store(store: Any, tasks: Iterable[Any] | None, pools: Any = (),
              jugfile: str | None = None, use_accounting: bool = True
              ) -> tuple[dict[str, Account], str | None]:
    """The accounts of ``store``'s worker records (of ``jugfile`` only, if given), with
    finished tasks per pool when the jugfile's ``tasks`` are known, and the name of the
    scheduler accounting that answered (None: the records alone)."""
    target = os.path.abspath(jugfile) if jugfile else None
    records = [r for r in read_records(store) if target is None or r.jugfile == target]
    finished: dict[str, int] | None = None
    if tasks is not None:
        tasks = unique_tasks(tasks)
        by_name = assign((t.name for t in tasks), list(pools))
        done = set(store.list())
        finished = {}
        for t in tasks:
            if t.hash() in done:
                finished[by_name[t.name]] = finished.get(by_name[t.name], 0) + 1
    seen, source = _accounting(records) if use_accounting else (None, None)
    return build(records, finished, seen), source


def _accounting(records: list[WorkerRecord]
                ) -> tuple[dict[tuple[str, str], Elapsed] | None, str | None]:
    """What the accounting of each scheduler the workers ran under says of their elements
    (asked through the adapters; most have none), and the names of those that answered."""
    by_scheduler: dict[str, list[str]] = {}
    for r in records:
        key, name = element_key(r), (r.job or {}).get("scheduler")
        if key is not None and name:
            by_scheduler.setdefault(str(name), []).append(key[0])
    seen: dict[tuple[str, str], Elapsed] = {}
    names = []
    for name, ids in sorted(by_scheduler.items()):
        try:
            sched = get_scheduler(name)
        except SchedulerError:
            continue  # a record of a scheduler this jug does not know
        got = sched.accounting(ids)
        if got:
            seen.update(got)
            names.append(sched.accounting_name)
    return (seen or None), (", ".join(names) or None)
