"""Retry attempts of tasks whose exceptions the user marked as transient (``--retries``).

One document per task (namespace ``attempts``, named by the task's hash) counts its failed
attempts and keeps the last error and the earliest time of the next attempt.  Only the worker
holding the task's lock writes it (read, add one, write, all under the lock), so two workers
never count one attempt twice or lose one, and the bound holds however many workers take
turns at the task.  ``jug status`` shows the count; ``jug cleanup --failed-only`` and ``jug
invalidate`` reset it, so a retried task gets its full number of attempts again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Iterable

from ..backends import Store

NAMESPACE = "attempts"


@dataclass(frozen=True)
class Attempts:
    """The failed attempts of one task so far."""

    task: str
    failed: int  # attempts that raised
    error: str  # repr of the last error
    first_line: str  # ``OSError: ...`` of the last error
    time: float  # when the last attempt failed
    retry_after: float  # the earliest start of the next attempt (seconds since the epoch)
    by: str  # the worker of the last attempt

    @classmethod
    def from_doc(cls, doc: dict | None) -> Attempts | None:
        """Parse a stored document (None if it is none)."""
        if not isinstance(doc, dict):
            return None
        try:
            return cls(task=str(doc.get("task", "?")), failed=int(doc.get("failed", 0)),
                       error=str(doc.get("error", "")), first_line=str(doc.get("first_line", "")),
                       time=float(doc.get("time", 0)), retry_after=float(doc.get("retry_after", 0)),
                       by=str(doc.get("by", "")))
        except (TypeError, ValueError):
            return None


def record_failure(store: Store, key: str, task: str, error: str, first_line: str,
                   delay_for: DelayFor, by: str) -> Attempts:
    """Count one more failed attempt of ``key``: the caller holds the task's lock, which makes
    this read-add-write safe across workers.  ``delay_for(n)``: the back-off after ``n``
    failed attempts."""
    old = Attempts.from_doc(store.read_doc(NAMESPACE, key))
    failed = (old.failed if old else 0) + 1
    now = time.time()
    new = Attempts(task, failed, error, first_line, now, now + delay_for(failed), by)
    store.write_doc(NAMESPACE, key, asdict(new))
    return new


def read_all(store: Store) -> dict[str, Attempts]:
    """Every task's attempts (one bulk read; empty when the store cannot say)."""
    out = {}
    for key, doc in store.read_docs(NAMESPACE).items():
        a = Attempts.from_doc(doc)
        if a is not None:
            out[key] = a
    return out


def forget(store: Store, keys: Iterable[str] | None = None) -> int:
    """Reset the attempts of ``keys`` (all if None, else only those that have a record, read
    in one go); returns how many records were removed."""
    known = set(store.read_docs(NAMESPACE))
    wanted = known if keys is None else known.intersection(keys)
    return sum(1 for k in wanted if store.remove_doc(NAMESPACE, k))


class DelayFor:
    """The back-off: ``first`` seconds after the first failed attempt, doubling after each
    one, never more than ``cap``."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap = first, cap

    def __call__(self, failed: int) -> float:
        return min(self.cap, self.first * 2.0 ** max(0, failed - 1))
