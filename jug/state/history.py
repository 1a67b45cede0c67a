"""When tasks finished: a small histogram each worker keeps, for rates, ETAs and charts.

A worker cannot afford one store write per task, and a reader cannot afford one read per
result, so each worker counts its finished tasks in time buckets and writes the histogram
inside its timings document (see :mod:`jug.state.timings`, flushed every few seconds).  Buckets
start at 10 s wide and double in width whenever a worker has more than :data:`MAX_BUCKETS`,
so a week-long worker still writes a document of a few kilobytes.  Readers merge the
histograms of every worker: throughput over the last minutes (``jug status``), finished
tasks over time (webstatus chart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

FIRST_WIDTH = 10.0
MAX_BUCKETS = 400
#: seconds over which ``jug status`` measures the throughput
RATE_WINDOW = 300.0


@dataclass
class FinishHistogram:
    """Finished-task counts in buckets of ``width`` seconds: ``{bucket start: count}``."""

    width: float = FIRST_WIDTH
    counts: dict[float, int] = field(default_factory=dict)

    def add(self, when: float | None = None, n: int = 1) -> None:
        """Count ``n`` tasks finished at ``when`` (default: now)."""
        when = time.time() if when is None else when
        start = (when // self.width) * self.width
        self.counts[start] = self.counts.get(start, 0) + n
        if len(self.counts) > MAX_BUCKETS:
            self._coarsen()

    def _coarsen(self) -> None:
        """Double the bucket width (merging neighbours) until few enough buckets remain."""
        while len(self.counts) > MAX_BUCKETS:
            self.width *= 2
            merged: dict[float, int] = {}
            for start, n in self.counts.items():
                s = (start // self.width) * self.width
                merged[s] = merged.get(s, 0) + n
            self.counts = merged

    def to_doc(self) -> dict[str, Any]:
        """The JSON form stored in the timings document."""
        return {"width": self.width, "buckets": [[s, n] for s, n in sorted(self.counts.items())]}

    @classmethod
    def from_doc(cls, doc: Any) -> FinishHistogram:
        """Parse :meth:`to_doc` output; anything malformed gives an empty histogram."""
        h = cls()
        if not isinstance(doc, dict):
            return h
        try:
            h.width = float(doc.get("width", FIRST_WIDTH))
            for s, n in doc.get("buckets", []):
                h.counts[float(s)] = h.counts.get(float(s), 0) + int(n)
        except (TypeError, ValueError):
            return cls()
        return h


@dataclass
class FinishTimes:
    """Every worker's histograms merged: ``(bucket start, width, count)`` triples."""

    buckets: list[tuple[float, float, int]] = field(default_factory=list)

    @classmethod
    def from_timing_docs(cls, docs: dict[str, dict]) -> FinishTimes:
        """Merge the ``finished`` histograms of the timings documents ``docs``."""
        out: list[tuple[float, float, int]] = []
        for doc in docs.values():
            h = FinishHistogram.from_doc((doc or {}).get("finished"))
            out.extend((s, h.width, n) for s, n in h.counts.items())
        out.sort()
        return cls(out)

    @property
    def total(self) -> int:
        return sum(n for _s, _w, n in self.buckets)

    def rate(self, now: float, window: float = RATE_WINDOW) -> float | None:
        """Tasks per second over the last ``window`` seconds (None: nothing finished in it).

        A bucket that straddles the window's start counts in proportion to its overlap.
        """
        since = now - window
        n = 0.0
        first = None
        for start, width, count in self.buckets:
            end = start + width
            if end <= since:
                continue
            overlap = (min(end, now) - max(start, since)) / width if width else 1.0
            n += count * max(0.0, min(1.0, overlap))
            first = start if first is None else min(first, start)
        if not n or first is None:
            return None
        span = now - max(since, first)
        return n / span if span > 0 else None

    def cumulative(self, base: int = 0) -> list[tuple[float, int]]:
        """``[(time, finished so far)]`` at each bucket's end, starting from ``base`` tasks."""
        points: list[tuple[float, int]] = []
        done = base
        for start, width, count in self.buckets:
            done += count
            points.append((start + width, done))
        return _merge_same_time(points)


def _merge_same_time(points: Iterable[tuple[float, int]]) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    for t, n in points:
        if out and out[-1][0] == t:
            out[-1] = (t, max(out[-1][1], n))
        else:
            out.append((t, n))
    return out
