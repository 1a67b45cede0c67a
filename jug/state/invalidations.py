"""Invalidations: which results ``jug invalidate`` removed, of which task names, and when.

The allocation report (``jug submit --report``) counts task executions beyond one per
finished task as *reruns*: work done twice because a worker was killed or a lock reclaimed.
An invalidate-and-recompute looks the same in those counts (two executions, one result), yet
it is work the user asked for.  So each ``jug invalidate`` (and the shell's ``invalidate()``)
that removes results writes one small document here, and the report counts up to that many
executions as *recomputes* instead of reruns.  One document per invocation, never per task;
each under its own name, so two invalidations at once never overwrite each other.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..backends.owner import HOST

NAMESPACE = "invalidations"


@dataclass(frozen=True)
class Invalidation:
    """One ``jug invalidate``: when, for which jugfile, results removed per task name."""

    time: float
    jugfile: str
    tasks: dict[str, int]

    @property
    def results(self) -> int:
        """Results removed in all."""
        return sum(self.tasks.values())


def record(store: Any, jugfile: str, removed: Mapping[str, int]) -> Invalidation | None:
    """Write the document of one invalidation (nothing when no result was removed)."""
    tasks = {str(name): int(n) for name, n in removed.items() if n}
    if not tasks:
        return None
    inv = Invalidation(time.time(), os.path.abspath(jugfile), tasks)
    name = f"{inv.time:.6f}-{HOST}-{os.getpid()}".replace("/", "_")
    store.write_doc(NAMESPACE, name, asdict(inv))
    return inv


def read(store: Any, jugfile: str | None = None, since: float | None = None
         ) -> list[Invalidation]:
    """The invalidations recorded in ``store`` (of ``jugfile``, at or after ``since``)."""
    try:
        docs = store.read_docs(NAMESPACE)
    except Exception:  # an old store or an unreadable folder: nothing was recorded
        return []
    target = os.path.abspath(jugfile) if jugfile else None
    out = []
    for doc in docs.values():
        try:
            inv = Invalidation(float(doc["time"]), str(doc["jugfile"]),
                               {str(k): int(v) for k, v in dict(doc["tasks"]).items()})
        except (KeyError, TypeError, ValueError):
            continue
        if (target is None or inv.jugfile == target) and (since is None or inv.time >= since):
            out.append(inv)
    return sorted(out, key=lambda i: i.time)


def per_name(invalidations: list[Invalidation]) -> dict[str, int]:
    """Results removed per task name, summed over ``invalidations``."""
    out: dict[str, int] = {}
    for inv in invalidations:
        for name, n in inv.tasks.items():
            out[name] = out.get(name, 0) + n
    return out


def prune(store: Any, jugfile: str, before: float, dry_run: bool = False) -> int:
    """Remove the invalidation records of ``jugfile`` older than ``before`` (``jug cleanup``:
    they explain executions of worker records removed with them); returns how many."""
    target = os.path.abspath(jugfile)
    try:
        docs = store.read_docs(NAMESPACE)
    except Exception:
        return 0
    old = [name for name, doc in docs.items()
           if isinstance(doc, dict) and doc.get("jugfile") == target
           and float(doc.get("time") or 0) < before]
    for name in old:
        if not dry_run:
            store.remove_doc(NAMESPACE, name)
    return len(old)
