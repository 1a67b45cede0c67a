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
Efficiency = task seconds / allocated seconds.  Task executions beyond one per task finished
in the report's scope are *recomputes* as far as ``jug invalidate`` removed results in that
scope (:mod:`jug.state.invalidations`: the user asked for that work again), and *reruns*
beyond that (killed or reclaimed work done twice).

A report covers every recorded worker of the jugfile, or a :class:`Scope`: the workers of one
``--until-done`` chain (its arrays; finished counts from its first generation) or those that
started since a time (the finished count at that time is not recorded: reruns unknown).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from ..schedulers import get_scheduler
from ..schedulers.base import Elapsed, SchedulerError
from ..state.invalidations import per_name, read
from ..state.membership import assign
from ..state.shifts import ExitReason, WorkerRecord, read_records
from ..state.taskstate import unique_tasks
from .job import STATE_NAMESPACE

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
    finished: int | None = None  # tasks of the pool finished in the scope (None: unknown)
    invalidated: int = 0  # results of the pool that jug invalidate removed in the scope
    left_early: dict[str, int] = field(default_factory=dict)  # reason -> workers
    #: executions beyond one per finished task that ``jug invalidate`` explains, and those
    #: beyond that (None: the finished count is unknown); set by :meth:`settle`
    recomputes: int | None = None
    reruns: int | None = None
    #: core-seconds the jobs were granted (K x job time for jobs of K workers, the node's
    #: cores when exclusive; one core per worker where the array record does not say)
    core_seconds: float = 0.0
    #: granted core-seconds no worker process held: cores of a job whose workers left at
    #: different times, or that the job had beyond its workers (a whole node)
    idle_cores: float = 0.0

    @property
    def efficiency(self) -> float | None:
        """Task seconds per allocated worker-second (None: nothing allocated)."""
        return self.task_seconds / self.allocated if self.allocated > 0 else None

    def settle(self) -> None:
        """Split the executions beyond one per finished task into recomputes and reruns."""
        if self.finished is None:
            self.recomputes = self.reruns = None
            return
        extra = max(0, self.executions - self.finished)
        self.recomputes = min(self.invalidated, extra)
        self.reruns = extra - self.recomputes

    def add(self, other: Account) -> None:
        """Add ``other``'s figures to these (for the 'all' row)."""
        for name in ("workers", "allocated", "task_seconds", "idle_start", "idle_middle",
                     "idle_tail", "unrecorded", "executions", "invalidated", "core_seconds",
                     "idle_cores"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.queue_wait is not None:
            self.queue_wait = (self.queue_wait or 0.0) + other.queue_wait
        if other.finished is not None:
            self.finished = (self.finished or 0) + other.finished
        for reason, n in other.left_early.items():
            self.left_early[reason] = self.left_early.get(reason, 0) + n
        for name in ("recomputes", "reruns"):  # the sum of the pools' (None: one unknown)
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, None if mine is None or theirs is None else mine + theirs)

    def as_json(self) -> dict[str, Any]:
        """The JSON form (with the derived figures)."""
        return {**asdict(self), "efficiency": self.efficiency}


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


@dataclass(frozen=True)
class Grant:
    """What each element of one array was granted (from its record, ``jug submit``)."""

    cores: int  # cores of one element: K x cpus-per-task, or the node's when exclusive
    per_worker: float  # cores one worker holds (cpus-per-task)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Grant:
        k = int(doc.get("workers_per_job") or 1)
        asked = int(doc.get("cpus_per_job") or k)
        cores = asked
        if doc.get("exclusive") and doc.get("cores_per_node"):
            cores = int(doc["cores_per_node"])
        return cls(max(cores, 1), max(asked, 1) / k)


def _cores(records: list[WorkerRecord], grants: Mapping[str, Grant], now: float,
           accounting: Mapping[tuple[str, str], Elapsed] | None) -> tuple[float, float]:
    """(core-seconds granted, of them idle) of the elements ``records`` ran in."""
    granted = idle = 0.0
    by_element: dict[tuple[str, str] | None, list[WorkerRecord]] = {}
    for rec in records:
        key = element_key(rec)
        by_element.setdefault(key if key and _short_id(key[0]) in grants else None,
                              []).append(rec)
    for key, recs in by_element.items():
        spans = [split_worker(r, now)[0] for r in recs]
        if key is None:  # no grant recorded: one core per worker, for as long as it ran
            granted += sum(spans)
            continue
        g = grants[_short_id(key[0])]
        begin = min(min(r.started, r.spawned) if r.spawned else r.started for r in recs)
        end = max(r.ended if r.ended is not None else now for r in recs)
        seen = (accounting or {}).get(key)
        job_time = max(end - begin, 0.0)
        if seen is not None:
            job_time = max(job_time, (seen.end if seen.end is not None else now) - seen.start)
        granted += g.cores * job_time
        idle += max(0.0, g.cores * job_time - g.per_worker * sum(spans))
    return granted, idle


def build(records: Iterable[WorkerRecord], finished: Mapping[str, int] | None = None,
          accounting: Mapping[tuple[str, str], Elapsed] | None = None,
          now: float | None = None, invalidated: Mapping[str, int] | None = None,
          grants: Mapping[str, Grant] | None = None) -> dict[str, Account]:
    """``{pool: Account}`` plus the ``all`` row (pure: records in, arithmetic out).

    ``finished``: tasks finished in the scope per pool; ``invalidated``: results removed by
    ``jug invalidate`` in the scope per pool; ``grants``: what each array's elements were
    granted, by the array's short id."""
    now = time.time() if now is None else now
    out: dict[str, Account] = {}
    records = list(records)
    by_pool: dict[str, list[WorkerRecord]] = {}
    for rec in records:
        by_pool.setdefault(rec.pool or "default", []).append(rec)
    for pool, recs in by_pool.items():
        acc = out.setdefault(pool, Account(pool))
        acc.core_seconds, acc.idle_cores = _cores(recs, grants or {}, now, accounting)
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
    for pool, n in (invalidated or {}).items():
        out.setdefault(pool, Account(pool)).invalidated = n
    known = None if finished is None else 0
    total = Account(ALL, finished=known, recomputes=known, reruns=known)
    for acc in out.values():
        acc.settle()
        total.add(acc)
    return {**dict(sorted(out.items())), ALL: total}


# -- rendering ------------------------------------------------------------------------------
def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}s" if x >= 100 else f"{x:.1f}s"


def format_report(accounts: Mapping[str, Account], accounting: str | None,
                  scope: Scope | None = None) -> str:
    """The table ``jug submit --report`` prints, and lines on its scope and where the figures
    came from (``accounting``: the name of the scheduler accounting that answered, if any)."""
    head = (f"{'pool':<12} {'workers':>7} {'allocated':>10} {'tasks':>9} {'eff':>5} "
            f"{'idle start':>10} {'middle':>8} {'tail':>8} {'recomputes':>10} {'reruns':>6}"
            f"  left early")
    lines = [f"allocation report (worker-seconds) of {(scope or Scope()).label}", head]
    for acc in accounts.values():
        eff = "-" if acc.efficiency is None else f"{100 * acc.efficiency:.0f}%"
        early = ", ".join(f"{n} {r}" for r, n in sorted(acc.left_early.items())) or "-"
        recomputes, reruns = ("?" if x is None else str(x) for x in (acc.recomputes, acc.reruns))
        lines.append(f"{acc.pool:<12} {acc.workers:>7} {_secs(acc.allocated):>10} "
                     f"{_secs(acc.task_seconds):>9} {eff:>5} {_secs(acc.idle_start):>10} "
                     f"{_secs(acc.idle_middle):>8} {_secs(acc.idle_tail):>8} "
                     f"{recomputes:>10} {reruns:>6}  {early}")
    total = accounts.get(ALL)
    if total is not None and total.core_seconds:
        lines.append(f"core-seconds granted: {_secs(total.core_seconds)} (K x job time for jobs "
                     f"of K workers, the node's cores when exclusive) against "
                     f"{_secs(total.task_seconds)} task-seconds "
                     f"({100 * total.task_seconds / total.core_seconds:.0f}%); idle cores: "
                     f"{_secs(total.idle_cores)} (no worker left on them)")
    lines.extend(_notes(total, scope))
    if accounting and total is not None:
        lines.append(f"{accounting}: {_secs(total.queue_wait)} queued before "
                     f"start in all; {_secs(total.unrecorded)} allocated outside the jug "
                     f"processes (job start-up, kills), included in 'allocated'")
    else:
        lines.append("from the worker records only (no scheduler accounting: queue waits "
                     "and the job's time outside the jug process are not included)")
    return "\n".join(lines)


def _notes(total: Account | None, scope: Scope | None) -> list[str]:
    """What the recomputes and reruns columns mean here, when it needs saying."""
    notes = []
    if total is not None and total.invalidated:
        notes.append(f"recomputes: executions beyond one per finished task that 'jug "
                     f"invalidate' explains ({total.invalidated} results removed in this "
                     f"scope: computing them again is asked-for work); reruns: the rest "
                     f"(killed or reclaimed work done twice)")
    if total is not None and total.reruns is None and scope is not None \
            and scope.finished_at_start is None:
        notes.append("recomputes and reruns: unknown for a time window (the tasks finished at "
                     "its start are not recorded); --chain and the whole history have them")
    return notes


def report_json(accounts: Mapping[str, Account]) -> dict[str, Any]:
    """``{pool: figures}`` for ``jug status --json`` and webstatus."""
    return {pool: acc.as_json() for pool, acc in accounts.items()}


# -- scope: which workers a report covers ------------------------------------------------------
_SINCE_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_SINCE_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


class ScopeError(ValueError):
    """A ``--since`` or ``--chain`` the report cannot use (the message says what to give)."""


def parse_since(text: str, now: float) -> float:
    """The time ``--since`` means: a duration back from ``now`` (``2h``, ``90m``, ``1d12h``,
    ``45s``) or a local ISO date or time (``2026-12-07``, ``2026-12-07T14:30``)."""
    raw = str(text).strip().lower()
    parts = _SINCE_PART.findall(raw)
    if parts and "".join(n + u for n, u in parts) == raw:
        return now - sum(float(n) * _SINCE_UNITS[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(str(text).strip())
        if when.tzinfo is None:
            when = when.astimezone()  # a naive time is local, as the report prints it
        return when.timestamp()
    except (ValueError, OverflowError, OSError):
        raise ScopeError(f"--since {str(text)!r}: give a duration back from now (2h, 90m, "
                         f"1d12h) or an ISO date or time (2026-12-07, 2026-12-07T14:30)") from None


def _short_id(job_id: Any) -> str:
    """The leading number of a job id (``123``, ``123.server``, ``1[].server`` -> the number)."""
    m = re.match(r"\d+", str(job_id))
    return m.group(0) if m else str(job_id)


@dataclass(frozen=True)
class Scope:
    """Which workers a report covers: all of the jugfile's, those that started at or after
    ``since``, or those of a chain's ``arrays``; and the tasks finished per pool when it began
    (empty: none, as for the whole history; None: not recorded, so reruns are unknown)."""

    label: str = "every recorded worker"
    since: float | None = None
    arrays: frozenset[str] | None = None  # short job ids
    finished_at_start: Mapping[str, int] | None = field(default_factory=dict)

    def covers(self, rec: WorkerRecord) -> bool:
        """Whether the worker of ``rec`` is in this scope."""
        if self.since is not None and rec.started < self.since:
            return False
        if self.arrays is not None:
            key = element_key(rec)
            return key is not None and _short_id(key[0]) in self.arrays
        return True


def since_scope(text: str, now: float | None = None) -> Scope:
    """The scope of ``--since TEXT``."""
    since = parse_since(text, time.time() if now is None else now)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    return Scope(f"workers that started since {stamp}", since=since, finished_at_start=None)


def chain_scope(chain: Any, wanted: str = "latest") -> Scope:
    """The scope of ``--chain`` (``latest``, or a job id of one of the chain's arrays or
    planner jobs): the workers of the chain recorded for the jugfile.

    Only the latest chain is recorded (a new one replaces the record), so ``latest`` and a
    job id of it are the choices; an earlier run is reached with ``--since``."""
    arrays = [a for g in chain.generations for a in g.arrays]
    jobs = {_short_id(j) for j in [*arrays, *chain.helpers()]}
    if wanted != "latest" and _short_id(wanted) not in jobs:
        known = ", ".join(sorted({_short_id(a) for a in arrays}, key=int)) or "none yet"
        raise ScopeError(f"--chain {wanted}: not a job of the chain recorded for this jugfile "
                         f"(its arrays: {known}). A new chain replaces the record of the one "
                         f"before; for an earlier run use --since")
    first = chain.generations[0] if chain.generations else None
    start: dict[str, int] = {}
    if first is not None:
        start = dict(first.pool_finished) or {"default": int(first.finished_before)}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(chain.started))
    return Scope(f"the --until-done chain started {stamp} ({chain.status}, "
                 f"{len(chain.generations)} generation{'s' if len(chain.generations) != 1 else ''})",
                 since=chain.started, arrays=frozenset(_short_id(a) for a in arrays),
                 finished_at_start=start)


def for_store(store: Any, tasks: Iterable[Any] | None, pools: Any = (),
              jugfile: str | None = None, use_accounting: bool = True, scope: Scope = Scope()
              ) -> tuple[dict[str, Account], str | None]:
    """The accounts of ``store``'s worker records (of ``jugfile`` only, if given) in ``scope``,
    with tasks finished per pool in the scope when the jugfile's ``tasks`` are known (and the
    scope's start is), and the name of the scheduler accounting that answered (None: the
    records alone)."""
    target = os.path.abspath(jugfile) if jugfile else None
    records = [r for r in read_records(store)
               if (target is None or r.jugfile == target) and scope.covers(r)]
    finished = invalidated = None
    if tasks is not None:
        tasks = list(tasks)
        by_name = assign({t.name for t in tasks}, list(pools))
        finished = _finished_in_scope(store, tasks, by_name, scope)
        invalidated = {}
        for name, n in per_name(read(store, jugfile, scope.since)).items():
            pool = by_name.get(name, "default")
            invalidated[pool] = invalidated.get(pool, 0) + n
    seen, source = _accounting(records) if use_accounting else (None, None)
    grants = {_short_id(d.get("job_id")): Grant.of(d)
              for d in store.read_docs(STATE_NAMESPACE).values() if d.get("job_id")}
    return build(records, finished, seen, invalidated=invalidated, grants=grants), source


def _finished_in_scope(store: Any, tasks: list[Any], by_name: Mapping[str, str],
                       scope: Scope) -> dict[str, int] | None:
    """Tasks finished per pool now, less those finished when the scope began (None: unknown)."""
    if scope.finished_at_start is None:
        return None
    done = set(store.list())
    finished = dict.fromkeys(by_name.values(), 0)
    for t in unique_tasks(tasks):
        if t.hash() in done:
            finished[by_name[t.name]] = finished.get(by_name[t.name], 0) + 1
    for pool, n in scope.finished_at_start.items():
        finished[pool] = max(0, finished.get(pool, 0) - int(n))
    return finished


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
