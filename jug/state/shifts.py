"""Shifts: each worker's record and log lines: who worked, for how long, and why each one left.

(A *worker* is a process running ``jug execute``; its *shift* is its stint at the work, from
start to leaving.  :class:`ShiftLog` is the running worker's own side of it.)

Every ``jug execute`` process writes one small document (namespace ``workers``) when it
starts and overwrites it once when it leaves, never per task, so a thousand-element array
costs two thousand small writes in all.  The record tells ``jug status`` how many workers
are alive, webstatus when each one worked, and an accounting report where the allocation
went (busy seconds vs idle seconds, and why workers left early).

The same object prints what a batch log shows: a start line, a line per task with
``--verbose info``, a summary at most every :data:`SUMMARY_EVERY` seconds, an exit line.

Bounded: when a worker leaves (and in ``jug cleanup``), the records of workers that left
beyond the :data:`KEEP_ENDED` most recent are folded, per jugfile and pool, into one summary
document (:data:`PAST`: how many, their seconds split as the report splits them, their
tasks and why they left), written by compare-and-set; so readers read the running workers,
the recent ones and the summary, however many workers ran.
"""

from __future__ import annotations

import enum
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Collection, TextIO

from ..backends.owner import HOST, batch_job
from ..hooks import exit_checks
from .timings import fold_documents, format_duration

NAMESPACE = "workers"
SUMMARY_EVERY = 60.0
#: records of workers that left kept as they are (the most recent: the web page's timeline,
#: with the running ones); each is a file a status reads, so few
KEEP_ENDED = 16
#: the name of the summary of the workers folded away (no worker's name starts with "=")
PAST = "=past"
#: a record of a worker that never wrote its exit, with no sign of life for this long
#: (seconds), belongs to a dead worker
ABANDONED = 86400.0
#: seconds the summary remembers the names of records it folded (see jug.state.timings)
FOLDED_MEMORY = 3600.0


class ExitReason(str, enum.Enum):
    """Why a worker left (stored as the value, shown in logs and on the web page)."""

    NO_WORK = "no work left"
    BUDGET = "budget"  # its time or task budget ran out (JUG_MAX_*, exit_after_*)
    STOP = "STOP"  # the stop file appeared
    EXIT_CHECK = "exit check"  # a jugfile's own exit_when_true check fired
    GAVE_UP = "gave up waiting"  # others held what it needed for too long
    TASK_FAILED = "task failed"
    BLOCKED = "blocked"  # what is left depends on failed tasks
    SIGNAL = "signal"  # SIGTERM, SIGUSR1/2 (walltime, scancel, qdel)
    ERROR = "error"  # jugfile, store or jug error
    RUNNING = "running"  # not left yet (the start record)


def reason_of_exit_check(description: str) -> ExitReason:
    """Classify the description of the exit check that stopped a worker."""
    text = description.lower()
    if text.startswith("stop file"):
        return ExitReason.STOP
    if "time limit" in text or "not enough time left" in text or "executed" in text:
        return ExitReason.BUDGET
    return ExitReason.EXIT_CHECK


@dataclass
class WorkerRecord:
    """The stored document of one worker process."""

    name: str
    host: str
    pid: int
    job: dict | None
    element: str | None
    pool: str | None
    jugfile: str
    started: float
    ended: float | None = None
    reason: str = ExitReason.RUNNING.value
    detail: str = ""
    busy_seconds: float = 0.0
    idle_seconds: float = 0.0
    tasks: int = 0
    failed: int = 0
    spawned: float | None = None  # when its process started (interpreter start-up before)
    first_task: float | None = None  # when its first task started (idle before: start-up)
    last_task: float | None = None  # when its last task ended (idle after: the tail)

    @classmethod
    def from_doc(cls, doc: dict) -> WorkerRecord | None:
        """Parse a stored record (None if it is not one)."""
        try:
            known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
            return cls(**known)
        except TypeError:
            return None

    def split(self, now: float) -> tuple[float, float, float, float]:
        """(allocated, idle at start, idle in the middle, idle at the tail) seconds: from
        its process's start to its exit (``now`` if it has not left)."""
        end = self.ended if self.ended is not None else now
        begin = min(self.started, self.spawned) if self.spawned else self.started
        allocated = max(0.0, end - begin)
        if self.first_task is None or self.last_task is None:
            return allocated, allocated, 0.0, 0.0
        start_idle = max(0.0, self.first_task - begin)
        tail = max(0.0, end - self.last_task)
        middle = max(0.0, (self.last_task - self.first_task) - self.busy_seconds)
        return allocated, start_idle, middle, tail


@dataclass
class PastShifts:
    """The workers of one jugfile, pool and batch array (``array``: its short job id; "" for
    workers outside one) folded into the summary: counts and sums, and when the first of
    them started (what a report scoped ``--since`` or ``--chain`` needs to know)."""

    jugfile: str
    pool: str | None
    array: str = ""
    first_started: float | None = None
    workers: int = 0
    allocated: float = 0.0
    task_seconds: float = 0.0
    idle_start: float = 0.0
    idle_middle: float = 0.0
    idle_tail: float = 0.0
    executions: int = 0
    failed: int = 0
    exits: dict[str, int] = field(default_factory=dict)  # reason -> workers

    def add(self, rec: WorkerRecord, now: float) -> None:
        """Fold in one record of a worker that left."""
        allocated, start, middle, tail = rec.split(now)
        if self.first_started is None or rec.started < self.first_started:
            self.first_started = rec.started
        self.workers += 1
        self.allocated += allocated
        self.task_seconds += rec.busy_seconds
        self.idle_start += start
        self.idle_middle += middle
        self.idle_tail += tail
        self.executions += rec.tasks
        self.failed += rec.failed
        self.exits[rec.reason] = self.exits.get(rec.reason, 0) + 1

    @classmethod
    def from_doc(cls, doc: Any) -> PastShifts | None:
        try:
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except (TypeError, KeyError):
            return None


@dataclass
class Shifts:
    """What the store says of its workers: the records kept (oldest first) and the summary
    of those folded away."""

    records: list[WorkerRecord]
    past: list[PastShifts] = field(default_factory=list)

    @property
    def workers(self) -> int:
        """Every worker recorded, folded ones included."""
        return len(self.records) + sum(p.workers for p in self.past)

    def exits(self) -> dict[str, int]:
        """Workers that left, per reason (``ExitReason`` values)."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.ended is not None:
                out[r.reason] = out.get(r.reason, 0) + 1
        for p in self.past:
            for reason, n in p.exits.items():
                out[reason] = out.get(reason, 0) + n
        return out

    def of_jugfile(self, jugfile: str) -> Shifts:
        """The workers of ``jugfile`` (an absolute path) only."""
        return Shifts([r for r in self.records if r.jugfile == jugfile],
                      [p for p in self.past if p.jugfile == jugfile])


def _process_start() -> float | None:
    """When this process started (its interpreter start-up and imports are allocated time
    too), or None if the OS does not say.  Linux's /proc first: importing psutil would add
    about 15 ms to every worker's start-up."""
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/stat", "rb") as f:
            boot = next(int(ln.split()[1]) for ln in f if ln.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    try:
        import psutil  # start-up time: psutil loads only for the start record

        return float(psutil.Process().create_time())
    except Exception:
        return None


def _budget_text() -> str:
    parts = []
    left = exit_checks.time_left()
    if left is not None:
        parts.append(f"{left:.0f}s")
    if os.environ.get("JUG_MAX_TASKS"):
        parts.append(f"{os.environ['JUG_MAX_TASKS']} tasks")
    return " / ".join(parts) or "none"


@dataclass
class ShiftLog:
    """This worker's shift: its record, counters and log lines (all best effort: never fail
    a run)."""

    store: Any
    record: WorkerRecord
    verbose: bool = False
    out: TextIO = field(default_factory=lambda: sys.stderr)
    hashes: list[str] = field(default_factory=list)
    finished: Collection[str] = ()
    done_at_start: int = 0
    last_summary: float = field(default_factory=time.monotonic)
    idle_since: float | None = None

    @classmethod
    def start(cls, store: Any, jugfile: str, name: str, verbose: bool = False,
              pool: str | None = None, started: float | None = None) -> ShiftLog:
        """Write the start record and print the start line (``name``: the record's name;
        ``started``: when the worker process began, if earlier than now)."""
        job = batch_job()
        now = started or time.time()
        rec = WorkerRecord(name=name, host=HOST, pid=os.getpid(),
                           job=job, element=(job or {}).get("array_task_id"), pool=pool,
                           jugfile=os.path.abspath(jugfile), started=now,
                           spawned=_process_start())
        self = cls(store, rec, verbose)
        where = f", job {job['queue_id']}" if job else ""
        self.say(f"worker {HOST}:{rec.pid}{where} started: {rec.jugfile}, store "
                 f"{store.description}, budget {_budget_text()}")
        self.write()
        return self

    def say(self, text: str) -> None:
        """Print one log line (with the local time, as batch logs have none of their own)."""
        try:
            print(f"jug [{time.strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)
        except (OSError, ValueError):
            pass

    def write(self) -> None:
        """Store the record (best effort)."""
        try:
            self.store.write_doc(NAMESPACE, self.record.name, asdict(self.record))
        except Exception:
            pass

    def track(self, hashes: list[str], finished: Collection[str]) -> None:
        """The tasks the worker knows of, and the live set of the hashes it knows finished."""
        self.hashes = hashes
        self.finished = finished
        self.done_at_start = self._done()

    def _done(self) -> int:
        return sum(1 for h in self.hashes if h in self.finished)

    def task_done(self, name: str, seconds: float, ok: bool = True, retry: bool = False) -> None:
        """Count one task (``retry``: a failed attempt to be retried counts its time only);
        its log line with --verbose info; a summary now and then."""
        self.record.busy_seconds += seconds
        now = time.time()
        if self.record.first_task is None:
            self.record.first_task = now - seconds
        self.record.last_task = now
        if ok:
            self.record.tasks += 1
        elif not retry:
            self.record.failed += 1
        if self.verbose:
            word = "finished" if ok else "FAILED (to be retried)" if retry else "FAILED"
            self.say(f"{word} {name} in {seconds:.2f}s")
        if time.monotonic() - self.last_summary >= SUMMARY_EVERY:
            self.summary()

    def idle(self, waiting: bool) -> None:
        """Mark the start (True) or the end (False) of a wait for other workers."""
        now = time.monotonic()
        if waiting and self.idle_since is None:
            self.idle_since = now
        elif not waiting and self.idle_since is not None:
            self.record.idle_seconds += now - self.idle_since
            self.idle_since = None

    def summary(self) -> None:
        """One line: what this worker did, the overall progress it knows of, an ETA."""
        self.last_summary = time.monotonic()
        done, total = self._done(), len(self.hashes)
        text = f"progress: {self.record.tasks} task(s) done here"
        if total:
            text += f"; {done}/{total} finished overall ({100 * done / total:.0f}%)"
        eta = self._eta(done, total)
        if eta is not None:
            text += f", ETA about {format_duration(eta)}"
        self.say(text)

    def _eta(self, done: int, total: int) -> float | None:
        """Remaining tasks at the overall rate this worker has seen since it started."""
        elapsed = time.time() - self.record.started
        if not total or done >= total or elapsed <= 0 or not self.record.tasks:
            return None
        rate = max(self.record.tasks, done - self.done_at_start) / elapsed
        return (total - done) / rate

    def close(self, reason: ExitReason, detail: str = "") -> None:
        """Write the exit record and print the exit line."""
        self.idle(False)
        rec = self.record
        rec.ended = time.time()
        rec.reason = reason.value
        rec.detail = detail
        self.write()
        why = f"{reason.value} ({detail})" if detail else reason.value
        self.say(f"worker {rec.host}:{rec.pid} leaves: {why}; {rec.tasks} task(s) done, "
                 f"{rec.failed} failed, {rec.busy_seconds:.1f}s running tasks, "
                 f"{rec.idle_seconds:.1f}s idle, {rec.ended - rec.started:.1f}s in all")


def read_shifts(store: Any) -> Shifts:
    """The worker records of ``store`` and the summary of those folded away (one bulk read;
    empty if the store cannot say)."""
    try:
        docs = store.read_docs(NAMESPACE)
    except Exception:
        return Shifts([])
    summary = docs.pop(PAST, None)
    summary = summary if isinstance(summary, dict) else {}
    folded = summary.get("folded") or {}
    recs = [r for n, d in docs.items() if isinstance(d, dict) and n not in folded
            and (r := WorkerRecord.from_doc(d)) is not None]
    past = [p for g in summary.get("groups") or [] if (p := PastShifts.from_doc(g)) is not None]
    return Shifts(sorted(recs, key=lambda r: r.started), past)


def read_records(store: Any) -> list[WorkerRecord]:
    """The worker records kept in ``store`` (one bulk read), oldest first: running workers
    and the :data:`KEEP_ENDED` that left last (see :func:`read_shifts` for all)."""
    return read_shifts(store).records


def compact(store: Any, now: float | None = None, keep: int = KEEP_ENDED,
            beats: dict[str, float] | None = None) -> int:
    """Fold the records of workers that left (or provably died), beyond the ``keep`` most
    recent, into :data:`PAST` (compare-and-set), then remove them; how many were folded.
    ``beats``: when each worker last wrote its run times (read here if not given)."""
    now = time.time() if now is None else now
    docs = store.read_docs(NAMESPACE)
    current = docs.pop(PAST, None)
    folded = (current.get("folded") or {}) if isinstance(current, dict) else {}
    beats = _timing_times(store) if beats is None else beats
    gone = []
    for name, doc in docs.items():
        rec = WorkerRecord.from_doc(doc) if isinstance(doc, dict) else None
        if rec is not None and name not in folded and _gone(rec, beats.get(name, 0.0), now):
            gone.append((name, rec))
    gone.sort(key=lambda nr: nr[1].ended or 0.0)
    fold = dict(gone[:max(0, len(gone) - keep)])
    if not fold:
        return 0
    present = set(docs)
    return fold_documents(store, NAMESPACE, PAST, fold, lambda cur: _fold(cur, fold, present, now))


def array_of(rec: WorkerRecord) -> str:
    """The short job id of the batch array a worker ran in ("" outside one)."""
    m = re.match(r"\d+", str((rec.job or {}).get("array_job_id") or ""))
    return m.group(0) if m else ""


def _timing_times(store: Any) -> dict[str, float]:
    """When each worker last wrote its timings document (a sign of life)."""
    from .timings import read_docs

    return {n: float(d.get("time") or 0.0) for n, d in read_docs(store).items()}


def _gone(rec: WorkerRecord, beat: float, now: float) -> bool:
    """True if the worker left (its record says so; ``ended`` is set) or provably died,
    in which case its record is closed as of its last sign of life."""
    if rec.ended is not None:
        return True
    from .locks import owner_is_dead

    seen = max(rec.started, rec.last_task or 0.0, beat)
    owner = {"host": rec.host, "pid": rec.pid, "started": rec.started, "heartbeat": seen,
             "job": rec.job}
    if owner_is_dead(owner, now, ABANDONED) is None:
        return False
    rec.ended, rec.reason = seen, ExitReason.ERROR.value  # died without its exit record
    return True


def _fold(current: dict | None, fold: dict[str, WorkerRecord], present: set[str],
          now: float) -> dict:
    """The summary ``current`` with the records ``fold`` folded in."""
    current = current if isinstance(current, dict) else {}
    groups = {(p.jugfile, p.pool, p.array): p for g in current.get("groups") or []
              if (p := PastShifts.from_doc(g)) is not None}
    seen = dict(current.get("folded") or {})
    for name, rec in fold.items():
        if name in seen:
            continue  # folded by another process since this one read the records
        key = (rec.jugfile, rec.pool, array_of(rec))
        groups.setdefault(key, PastShifts(rec.jugfile, rec.pool, key[2])).add(rec, now)
        seen[name] = now
    seen = {n: t for n, t in seen.items() if n in present or now - float(t) < FOLDED_MEMORY}
    return {"groups": [asdict(p) for p in groups.values()], "folded": seen}


def live_workers(records: list[WorkerRecord], locks: dict[str, dict],
                 heartbeats: dict[str, float], stale_after: float) -> list[WorkerRecord]:
    """The workers that have not left and are not provably dead.

    A record has no heartbeat of its own; a worker's signs of life are its start, the lock it
    holds (refreshed by its heartbeat thread) and its last timings write (``heartbeats``:
    ``{worker name: time}``).
    """
    from .locks import owner_is_dead  # start-up time: psutil, only for jug status

    lock_times: dict[tuple, float] = {}
    for owner in locks.values():
        key = (owner.get("host"), owner.get("pid"))
        lock_times[key] = max(lock_times.get(key, 0.0), float(owner.get("heartbeat") or 0))
    now = time.time()
    out = []
    for r in records:
        if r.ended is not None:
            continue
        seen = max(r.started, lock_times.get((r.host, r.pid), 0.0), heartbeats.get(r.name, 0.0))
        owner = {"host": r.host, "pid": r.pid, "started": r.started, "heartbeat": seen,
                 "job": r.job}
        if owner_is_dead(owner, now, stale_after) is None:
            out.append(r)
    return out


def reason_of_worker(worker: Any, code: int) -> tuple[ExitReason, str]:
    """Why ``jug execute``'s ``worker`` left, having returned exit code ``code`` normally."""
    if worker.stop_reason:
        return reason_of_exit_check(worker.stop_reason), worker.stop_reason
    if getattr(worker, "elsewhere", False):
        return ExitReason.NO_WORK, "what is left waits on tasks of other pools"
    if worker.gave_up:
        return ExitReason.GAVE_UP, f"after {worker.nr_wait_cycles} wait cycles"
    if worker.failed_here:
        return ExitReason.TASK_FAILED, ", ".join(sorted(set(worker.failed_here))[:5])
    if code != 0:
        return ExitReason.BLOCKED, "what is left depends on failed tasks"
    return ExitReason.NO_WORK, ""
