"""What each task used: CPU time and peak memory, measured around each run by the worker.

Wall time alone cannot say whether a pool asked for too much memory or too many CPUs, so the
worker measures, per task run, the CPU seconds it used (``os.times``: user + system, of the
worker and of the subprocesses the task waited for) and the peak resident memory *of that
task*.  On Linux the kernel's high-water mark of the process (``VmHWM``) can be reset to the
current resident size by writing ``5`` to ``/proc/self/clear_refs``: reset before the task,
read after, and the figure is the largest the process was while the task ran (the worker's own
~30 MB included: that is what a memory limit sees).  Elsewhere, or where ``clear_refs`` is not
writable, the process's ``ru_maxrss`` is read after the task: an upper bound (it never goes
down) that is exact for a task that set a new peak.

Three kept-open file descriptors and a few syscalls per task (10-20 µs; ~30 µs in a worker
whose parent was a large process before ``exec``: the kernel then keeps the parent's peak in
``ru_maxrss`` and every task needs the slower ``VmHWM`` read): measured in
``benchmarks/`` (the tiny-task row).  The figures are stored with the run times
(:mod:`jug.state.timings`) and summarised per task name by :class:`ResourceTable`.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

try:
    import resource
except ImportError:  # Windows: no peak memory figure
    resource = None  # type: ignore[assignment]

KIB = 1024
_PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // KIB


@dataclass(frozen=True)
class Usage:
    """One task run: wall and CPU seconds, peak resident memory in KiB (None: unknown)."""

    wall: float
    cpu: float
    peak_kib: int | None


class Meter:
    """Measures one task run at a time: :meth:`start` before it, :meth:`stop` after."""

    def __init__(self) -> None:
        self._fds: tuple[int, int, int] | None = None  # clear_refs, status, statm
        try:
            fds = []
            for name, mode in (("clear_refs", os.O_WRONLY), ("status", os.O_RDONLY),
                               ("statm", os.O_RDONLY)):
                fds.append(os.open(f"/proc/self/{name}", mode))
            self._fds = (fds[0], fds[1], fds[2])
            os.write(fds[0], b"5")
        except OSError:  # not Linux, or a kernel/container that refuses: ru_maxrss instead
            for fd in fds:
                os.close(fd)
            self._fds = None
        self._cpu0 = 0.0

    def start(self) -> None:
        """Reset the high-water mark; note the CPU seconds so far."""
        if self._fds is not None:
            try:
                os.write(self._fds[0], b"5")
            except OSError:
                self._fds = None
        self._cpu0 = _cpu_seconds()

    def stop(self, wall: float) -> Usage:
        """The run since :meth:`start`, which took ``wall`` seconds."""
        return Usage(wall, max(0.0, _cpu_seconds() - self._cpu0), self._peak_kib())

    def _peak_kib(self) -> int | None:
        """After the reset ``ru_maxrss`` is the larger of the process's high-water mark and
        the peaks of threads that exited (which some kernels keep for ever).  If it is the
        resident size now, that is the peak (tiny tasks: no ``/proc/self/status`` read);
        otherwise ``VmHWM`` says how high this task went (~11 µs, on tasks that grew)."""
        rss_max = _maxrss_kib()
        if self._fds is None:
            return rss_max
        try:
            now = int(os.pread(self._fds[2], 64, 0).split()[1]) * _PAGE_KIB
            if rss_max is not None and rss_max <= now:
                return rss_max
            data = os.pread(self._fds[1], 4096, 0)
            i = data.index(b"VmHWM:")
            return int(data[i + 6:data.index(b"kB", i)])
        except (OSError, ValueError, IndexError):
            return rss_max


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _maxrss_kib() -> int | None:
    if resource is None:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss // KIB) if sys.platform == "darwin" else int(rss)  # macOS: bytes


@dataclass(frozen=True)
class TaskResources:
    """What the runs of one task name used, as ``jug status --resources`` shows it."""

    name: str
    runs: int
    wall_median: float | None
    wall_max: float | None
    cpu_efficiency: float | None  # CPU seconds / wall seconds over the measured runs
    peak_median_kib: int | None
    peak_max_kib: int | None
    cpu_seconds: float = 0.0  # of the runs with a CPU figure ...
    cpu_wall: float = 0.0  # ... and their wall seconds (pools add these up)

    def as_json(self) -> dict[str, Any]:
        """The JSON form (memory in bytes, times in seconds)."""
        return {"runs": self.runs, "wall_median": self.wall_median, "wall_max": self.wall_max,
                "cpu_efficiency": self.cpu_efficiency,
                "peak_median_bytes": _bytes(self.peak_median_kib),
                "peak_max_bytes": _bytes(self.peak_max_kib)}


def _bytes(kib: int | None) -> int | None:
    return None if kib is None else kib * KIB


@dataclass
class _Acc:
    runs: int = 0
    recent: list[float] | None = None
    wall_max: float = 0.0
    cpu: float = 0.0
    cpu_wall: float = 0.0
    peaks: list[int] | None = None
    peak_max: int | None = None


def resource_table(docs: Mapping[str, dict] | Iterable[dict]) -> dict[str, TaskResources]:
    """``{task name: TaskResources}`` merged from every worker's timings document."""
    accs: dict[str, _Acc] = {}
    values = docs.values() if isinstance(docs, Mapping) else docs
    for doc in values:
        for name, d in ((doc or {}).get("tasks") or {}).items():
            _merge(accs.setdefault(name, _Acc(recent=[], peaks=[])), d)
    return {name: _finish(name, a) for name, a in sorted(accs.items())}


def _merge(a: _Acc, d: dict) -> None:
    recent = [float(x) for x in d.get("recent", [])]
    a.runs += int(d.get("count", 0))
    assert a.recent is not None and a.peaks is not None
    a.recent.extend(recent)
    a.wall_max = max(a.wall_max, float(d.get("max", max(recent, default=0.0))))
    if "cpu" in d:  # documents of older workers have no CPU figure
        a.cpu += float(d["cpu"])
        a.cpu_wall += float(d.get("total", 0.0))
    a.peaks.extend(int(x) for x in d.get("mem", []))
    if d.get("mem_max") is not None:
        a.peak_max = max(a.peak_max or 0, int(d["mem_max"]))


def _finish(name: str, a: _Acc) -> TaskResources:
    recent, peaks = a.recent or [], a.peaks or []
    return TaskResources(
        name, a.runs, statistics.median(recent) if recent else None,
        a.wall_max if recent else None,
        a.cpu / a.cpu_wall if a.cpu_wall > 0 else None,
        int(statistics.median(peaks)) if peaks else None, a.peak_max, a.cpu, a.cpu_wall)


def format_bytes(n: float | None) -> str:
    """``3.1 GiB``, ``512 MiB``, ``12 KiB`` (``-``: unknown)."""
    if n is None:
        return "-"
    for unit, size in (("GiB", KIB ** 3), ("MiB", KIB ** 2), ("KiB", KIB)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"
