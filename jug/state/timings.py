"""Task run times: recorded by workers in the store, read back per task name.

Each worker keeps, per task name, a count, a total and its most recent durations, and writes
them as one small document (namespace ``timings``) now and then, never once per task.
Readers merge all workers' documents: the typical duration of a task name drives the ETA of
``jug status``, how many tasks one worker finishes in a walltime, and whether a worker with
little time left should start a task at all.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ..backends.owner import HOST
from .history import FinishHistogram
from .usage import Usage

NAMESPACE = "timings"
RECENT = 20
FLUSH_SECONDS = 10.0


class TimingRecorder:
    """Run times of the tasks this worker ran, flushed to the store every few seconds."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.name = f"{HOST}-{os.getpid()}-{int(time.time())}"
        self.data: dict[str, dict] = {}
        self.finished = FinishHistogram()
        self.last_write = -FLUSH_SECONDS  # the first finished task is written at once
        self.dirty = False
        # the heartbeat thread flushes too (a long task must not hide the runs before it)
        self._lock = threading.RLock()

    def add(self, task_name: str, seconds: float, usage: Usage | None = None) -> None:
        """Record one run of ``task_name`` that took ``seconds`` (and used ``usage``)."""
        with self._lock:
            self._add(task_name, seconds, usage)

    def _add(self, task_name: str, seconds: float, usage: Usage | None) -> None:
        d = self.data.get(task_name)
        if d is None:
            d = self.data[task_name] = {"count": 0, "total": 0.0, "recent": []}
        d["count"] += 1
        d["total"] += seconds
        recent = d["recent"]
        recent.append(round(seconds, 6))
        if len(recent) > RECENT:
            del recent[0]
        if usage is not None:
            _add_usage(d, seconds, usage)
        self.finished.add()
        self.dirty = True
        if time.monotonic() - self.last_write > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write this worker's document (best effort: timings never fail a run)."""
        with self._lock:
            if not self.dirty:
                return
            try:
                self.store.write_doc(NAMESPACE, self.name, {
                    "tasks": self.data, "time": time.time(), "finished": self.finished.to_doc()})
            except Exception:
                pass
            self.dirty = False
            self.last_write = time.monotonic()


def _add_usage(d: dict, seconds: float, usage: Usage) -> None:
    """The resource fields of a task name's record: ``max`` (longest run, s), ``cpu`` (CPU
    seconds of all runs), ``mem`` (recent peaks, KiB, beside ``recent``), ``mem_max`` (KiB)."""
    d["max"] = round(max(float(d.get("max", 0.0)), seconds), 6)
    d["cpu"] = round(float(d.get("cpu", 0.0)) + usage.cpu, 6)
    if usage.peak_kib is None:
        return
    mem = d.setdefault("mem", [])
    mem.append(usage.peak_kib)
    if len(mem) > RECENT:
        del mem[0]
    d["mem_max"] = max(int(d.get("mem_max", 0)), usage.peak_kib)


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
        """Every worker's timings from ``store`` (one bulk read)."""
        try:
            return cls(store.read_docs(NAMESPACE))
        except Exception:
            return cls()

    def merge(self, name: str, d: dict) -> None:
        """Add one worker's record for ``name``."""
        self.count[name] = self.count.get(name, 0) + int(d.get("count", 0))
        self.total[name] = self.total.get(name, 0.0) + float(d.get("total", 0.0))
        self.recent.setdefault(name, []).extend(float(x) for x in d.get("recent", []))

    def add(self, name: str, seconds: float) -> None:
        """Add one run observed live."""
        self.merge(name, {"count": 1, "total": seconds, "recent": [seconds]})

    def mean(self, name: str) -> float | None:
        """Average run time of ``name``, or None if it never ran."""
        n = self.count.get(name, 0)
        return self.total[name] / n if n else None

    def typical(self, name: str) -> float | None:
        """A high (90th percentile) recent run time of ``name``: what to budget for one run."""
        xs = sorted(self.recent.get(name, [])[-5 * RECENT:])
        if not xs:
            return None
        return xs[min(len(xs) - 1, int(0.9 * len(xs)))]

    def as_dict(self) -> dict[str, dict[str, float | None]]:
        """``{name: {"runs", "mean", "typical"}}`` for JSON output."""
        return {n: {"runs": self.count[n], "mean": self.mean(n), "typical": self.typical(n)}
                for n in self.count}


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
