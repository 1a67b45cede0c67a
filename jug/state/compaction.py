"""Keeping the records bounded: run times and worker records of workers that left are
folded into one document each (:func:`jug.state.timings.compact`,
:func:`jug.state.shifts.compact`), so that what ``jug execute`` reads at start, what each
poll and ``jug status`` read, does not grow with the number of workers that ever ran.

Done by each worker as it leaves, and by ``jug cleanup``; best effort: a store that fails
here loses nothing (the records stay as they were, and the next compaction folds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import shifts, timings


@dataclass(frozen=True)
class Compaction:
    """How many documents one compaction folded away."""

    timings: int
    workers: int

    @property
    def total(self) -> int:
        return self.timings + self.workers


def compact(store: Any) -> Compaction:
    """Fold the timings documents and worker records of workers that left (or died)."""
    try:
        docs = store.read_docs(timings.NAMESPACE)  # once for both: when each wrote last
        beats = {n: float(d.get("time") or 0.0) for n, d in docs.items() if isinstance(d, dict)}
        folded = [timings.compact(store, docs=docs)]
    except Exception:  # best effort: a worker leaving must not fail on its bookkeeping
        beats, folded = None, [0]
    try:
        folded.append(shifts.compact(store, beats=beats))
    except Exception:
        folded.append(0)
    return Compaction(*folded)
