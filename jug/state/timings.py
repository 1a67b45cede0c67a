"""Task run times: recorded by workers in the store, read back per task name.

Each worker keeps, per task name, a count, a total and its most recent durations, and writes
them as one small document (namespace ``timings``) now and then, never once per task.
Readers merge the documents: the typical duration of a task name drives the ETA of ``jug
status``, how many tasks one worker finishes in a walltime, and whether a worker with
little time left should start a task at all.

Bounded: when a worker leaves (and in ``jug cleanup``) the documents of workers that left
or died are folded into one compacted document (:data:`COMPACTED`: per task name, the
count, the total and the :data:`KEEP_RECENT` most recent run times; the merged finish
histogram), written by compare-and-set.  Readers, ``jug execute`` at start among them, so
read the compacted document and those of the workers still running, however many ran before.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, Callable, Collection

from ..backends.owner import HOST, process_start
from .history import FinishHistogram
from .usage import Usage

NAMESPACE = "timings"
#: run times per task name in one worker's document
RECENT = 20
#: run times per task name in the compacted document, and what :meth:`Durations.typical`
#: looks at: the most recent ones
KEEP_RECENT = 5 * RECENT
FLUSH_SECONDS = 10.0
#: a running worker rewrites its document at least this often (seconds), even idle or
#: running one long task, so that it is never taken for a dead one (:data:`ABANDONED`)
REFRESH_SECONDS = 3600.0
#: a document not rewritten for this long (seconds) was left by a worker that died
ABANDONED = 86400.0
#: the name of the compacted document (no worker's name starts with "=")
COMPACTED = "=compacted"
#: a task name whose runs take less than this on average (seconds) is metered (CPU time and
#: peak memory, :mod:`jug.state.usage`: five system calls) once in :data:`METER_EVERY` runs:
#: a tiny task's CPU time is its wall time, its peak the worker's own, and metering every
#: one would cost half again the system calls of running it
METER_BELOW = 0.01
METER_EVERY = 64
#: seconds the compacted document remembers the names of documents it absorbed (so that a
#: reader or a compactor that still sees one never counts it twice)
ABSORBED_MEMORY = 3600.0


class _Runs:
    """One task name's runs in this worker: how many, their total, the most recent ones;
    and what they used (:mod:`jug.state.usage`), when measured."""

    __slots__ = ("count", "total", "recent", "max", "cpu", "mem", "mem_max")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.max = 0.0  # the longest run (s)
        self.cpu: float | None = None  # CPU seconds of all runs (None: not measured)
        self.mem: deque[int] = deque(maxlen=RECENT)  # recent peaks (KiB)
        self.mem_max: int | None = None

    def use(self, seconds: float, usage: Usage) -> None:
        """Count what one run used."""
        self.max = max(self.max, seconds)
        self.cpu = (self.cpu or 0.0) + usage.cpu
        if usage.peak_kib is not None:
            self.mem.append(usage.peak_kib)
            self.mem_max = max(self.mem_max or 0, usage.peak_kib)

    def as_doc(self) -> dict:
        """This task name's record in the worker's document."""
        doc: dict = {"count": self.count, "total": self.total,
                     "recent": [round(x, 6) for x in list(self.recent)]}
        if self.cpu is not None:
            doc.update(max=round(self.max, 6), cpu=round(self.cpu, 6))
        if self.mem_max is not None:
            doc.update(mem=list(self.mem), mem_max=self.mem_max)
        return doc


class TimingRecorder:
    """Run times of the tasks this worker ran, flushed to the store every few seconds."""

    def __init__(self, store: Any, durations: Durations | None = None) -> None:
        self.store = store
        self.durations = durations  # also told of each run (the worker's own estimates)
        self.name = f"{HOST}-{os.getpid()}-{int(time.time())}"
        self.owner = {"host": HOST, "pid": os.getpid(), "started": process_start()}
        self.data: dict[str, _Runs] = {}
        self.finished = FinishHistogram()
        # finished tasks of the current histogram bucket, counted into it when it ends
        self._bucket_start = self._bucket_end = 0.0
        self._in_bucket = 0
        self._adder = threading.get_ident()  # the thread that adds runs (and may fold them)
        self.last_write = -FLUSH_SECONDS  # the first finished task is written at once
        self.dirty = False
        # the heartbeat thread flushes too (a long task must not hide the runs before it)
        self._lock = threading.RLock()

    def add(self, task_name: str, seconds: float, usage: Usage | None = None) -> None:
        """Record one run of ``task_name`` that took ``seconds`` (and used ``usage``).

        Once per task, so without a lock: the heartbeat thread that may flush meanwhile only
        reads, and a new task name (which would change the dict it reads) takes the lock.
        """
        runs = self.data.get(task_name)
        if runs is None:
            with self._lock:
                runs = self.data[task_name] = _Runs()
        runs.count += 1
        runs.total += seconds
        runs.recent.append(seconds)
        if usage is not None:
            runs.use(seconds, usage)
        elif runs.cpu is not None:  # not metered (a tiny run): its CPU time is its wall time
            runs.cpu += seconds
            if seconds > runs.max:
                runs.max = seconds
        if self.durations is not None:
            self.durations.add(task_name, seconds)
        now = time.time()
        if now < self._bucket_end:  # the finish histogram's current bucket: just count
            self._in_bucket += 1
        else:
            self._next_bucket(now)
        self.dirty = True
        if time.monotonic() - self.last_write > FLUSH_SECONDS:
            self.flush()

    def wants_meter(self, task_name: str) -> bool:
        """Whether the next run of ``task_name`` should be metered (see :data:`METER_BELOW`)."""
        runs = self.data.get(task_name)
        return (runs is None or runs.total >= METER_BELOW * runs.count
                or runs.count % METER_EVERY == 0)

    def _next_bucket(self, now: float) -> None:
        """Count the finished tasks of the bucket that ended; start the one of ``now``."""
        self._fold_bucket()
        width = self.finished.width
        self._bucket_start = (now // width) * width
        self._bucket_end = self._bucket_start + width
        self._in_bucket = 1

    def _fold_bucket(self) -> None:
        if self._in_bucket:
            self.finished.add(self._bucket_start, self._in_bucket)
            self._in_bucket = 0

    def flush(self, final: bool = False) -> None:
        """Write this worker's document if it changed, or has not been written for
        :data:`REFRESH_SECONDS`, or this is the ``final`` write of a worker that leaves
        (best effort: timings never fail a run)."""
        with self._lock:
            if not (self.dirty or final
                    or time.monotonic() - self.last_write > REFRESH_SECONDS):
                return
            self.dirty = False
            if threading.get_ident() == self._adder:  # the heartbeat thread leaves it be
                self._fold_bucket()
            tasks = {n: r.as_doc() for n, r in list(self.data.items())}
            try:
                self.store.write_doc(NAMESPACE, self.name, {
                    "tasks": tasks, "time": time.time(), "finished": self.finished.to_doc(),
                    **self.owner, "final": final})
            except Exception:
                self.dirty = True  # written next time
            self.last_write = time.monotonic()


class Durations:
    """Merged run times per task name: ``mean(name)`` and a conservative ``typical(name)``."""

    def __init__(self, docs: dict[str, dict] | None = None) -> None:
        self.count: dict[str, int] = {}
        self.total: dict[str, float] = {}
        self.recent: dict[str, list[float]] = {}
        for doc in (docs or {}).values():
            for name, d in (doc.get("tasks") or {}).items():
                self.merge(name, d)

    @classmethod
    def from_store(cls, store: Any) -> Durations:
        """The run times recorded in ``store`` (one bulk read, :func:`read_docs`)."""
        return cls(read_docs(store))

    def merge(self, name: str, d: dict) -> None:
        """Add one worker's record for ``name`` (records oldest first: recent runs last)."""
        self.count[name] = self.count.get(name, 0) + int(d.get("count", 0))
        self.total[name] = self.total.get(name, 0.0) + float(d.get("total", 0.0))
        self.recent.setdefault(name, []).extend(float(x) for x in d.get("recent", []))

    def add(self, name: str, seconds: float) -> None:
        """Add one run observed live (once per task: no record made for it)."""
        self.count[name] = self.count.get(name, 0) + 1
        self.total[name] = self.total.get(name, 0.0) + seconds
        recent = self.recent.get(name)
        if recent is None:
            recent = self.recent[name] = []
        recent.append(seconds)
        if len(recent) > 2 * KEEP_RECENT:  # a long worker's memory stays bounded
            del recent[:-KEEP_RECENT]

    def mean(self, name: str) -> float | None:
        """Average run time of ``name``, or None if it never ran."""
        n = self.count.get(name, 0)
        return self.total[name] / n if n else None

    def typical(self, name: str) -> float | None:
        """A high (90th percentile) recent run time of ``name``: what to budget for one run."""
        xs = sorted(self.recent.get(name, [])[-KEEP_RECENT:])
        if not xs:
            return None
        return xs[min(len(xs) - 1, int(0.9 * len(xs)))]

    def as_dict(self) -> dict[str, dict[str, float | None]]:
        """``{name: {"runs", "mean", "typical"}}`` for JSON output."""
        return {n: {"runs": self.count[n], "mean": self.mean(n), "typical": self.typical(n)}
                for n in self.count}


def read_docs(store: Any) -> dict[str, dict]:
    """The timings documents to merge, oldest first (the compacted one, then the running
    workers' by their last write); those the compacted one absorbed are left out (a reader
    may see one between its absorption and its removal).  Empty if the store cannot say."""
    try:
        docs = store.read_docs(NAMESPACE)
    except Exception:
        return {}
    compacted = docs.pop(COMPACTED, None)
    out: dict[str, dict] = {}
    absorbed: Any = {}
    if isinstance(compacted, dict):
        out[COMPACTED] = compacted
        absorbed = compacted.get("absorbed") or {}
    live = [(n, d) for n, d in docs.items() if isinstance(d, dict) and n not in absorbed]
    out.update(sorted(live, key=lambda nd: _when(nd[1])))
    return out


def _when(doc: dict) -> float:
    try:
        return float(doc.get("time") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def left(doc: dict, now: float) -> bool:
    """True if the worker that writes ``doc`` has left (its last write said so) or is
    provably dead (its process is gone from this host, or no write for :data:`ABANDONED`)."""
    if doc.get("final"):
        return True
    from .locks import owner_is_dead

    owner = {"host": doc.get("host"), "pid": doc.get("pid"), "started": doc.get("started"),
             "heartbeat": _when(doc)}
    return owner_is_dead(owner, now, ABANDONED) is not None


def compact(store: Any, now: float | None = None, docs: dict[str, dict] | None = None) -> int:
    """Fold the documents of workers that left or died into :data:`COMPACTED` (compare-and-
    set), then remove them; how many were folded (0 also when another process holds it).
    ``docs``: the namespace as the caller read it just now."""
    now = time.time() if now is None else now
    docs = dict(store.read_docs(NAMESPACE) if docs is None else docs)
    current = docs.pop(COMPACTED, None)
    absorbed = (current or {}).get("absorbed") or {} if isinstance(current, dict) else {}
    done = {n: d for n, d in docs.items()
            if isinstance(d, dict) and n not in absorbed and left(d, now)}
    if not done:
        return 0
    present = set(docs)
    return fold_documents(store, NAMESPACE, COMPACTED, done,
                          lambda cur: _absorb(cur, done, present, now))


def fold_documents(store: Any, namespace: str, into: str, folded: Collection[str],
                   change: Callable[[dict | None], dict]) -> int:
    """Fold the documents ``folded`` into the one document ``into`` (``change``, a
    compare-and-set), then remove them: how many were folded, 0 if the set lost its race.
    The run times and the worker records are compacted this one way."""
    if not store.update_doc(namespace, into, change):
        return 0
    for name in folded:
        store.remove_doc(namespace, name)
    return len(folded)


def _absorb(current: dict | None, done: dict[str, dict], present: set[str], now: float) -> dict:
    """The compacted document ``current`` with the worker documents ``done`` merged in."""
    current = current if isinstance(current, dict) else {}
    tasks: dict[str, dict] = dict(current.get("tasks") or {})
    hist = FinishHistogram.from_doc(current.get("finished"))
    seen = dict(current.get("absorbed") or {})
    latest = _when(current)
    for name, doc in sorted(done.items(), key=lambda nd: _when(nd[1])):
        if name in seen:
            continue  # absorbed by another process since this one read the documents
        for task, d in (doc.get("tasks") or {}).items():
            tasks[task] = _merged(tasks.get(task), d)
        for start, n in FinishHistogram.from_doc(doc.get("finished")).counts.items():
            hist.add(start, n)
        seen[name] = now
        latest = max(latest, _when(doc))
    # a name is forgotten once its document is gone and an hour has passed
    seen = {n: t for n, t in seen.items() if n in present or now - float(t) < ABSORBED_MEMORY}
    return {"tasks": tasks, "finished": hist.to_doc(), "time": latest, "absorbed": seen}


def _merged(into: dict | None, d: dict) -> dict:
    """One task name's record in the compacted document with a worker's record ``d`` added:
    counts and sums added, the most recent runs (and memory peaks) kept, maxima kept."""
    into = into or {"count": 0, "total": 0.0, "recent": []}
    out = {"count": int(into["count"]) + int(d.get("count", 0)),
           "total": float(into["total"]) + float(d.get("total", 0.0)),
           "recent": [*into["recent"], *d.get("recent", [])][-KEEP_RECENT:]}
    for key, join in (("max", max), ("mem_max", max), ("cpu", lambda a, b: a + b)):
        values = [float(x[key]) for x in (into, d) if x.get(key) is not None]
        if values:
            value = join(*values) if len(values) == 2 else values[0]
            out[key] = int(value) if key == "mem_max" else value
    if into.get("mem") or d.get("mem"):
        out["mem"] = [*into.get("mem", []), *d.get("mem", [])][-KEEP_RECENT:]
    return out


def eta_seconds(remaining: dict[str, int], durations: Durations, workers: int) -> float | None:
    """Seconds to finish ``remaining`` tasks per name with ``workers`` in parallel (None: unknown)."""
    work = 0.0
    for name, n in remaining.items():
        if n <= 0:
            continue
        m = durations.mean(name)
        if m is None:
            return None
        work += n * m
    return work / max(workers, 1)


def format_duration(seconds: float) -> str:
    """``3h05m``, ``4m10s`` or ``12s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
