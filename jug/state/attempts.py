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
from typing import Any, Iterable

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


def retry_rows(store: Store, tasks: list, snap: Any) -> list[dict[str, Any]]:
    """``jug status --json``'s ``retries``: one row per task of ``tasks`` that had a failed
    attempt, with how many attempts it took (finished), had (failed) or has had so far
    (``retrying``: waiting for its next one), and the last error."""
    try:
        attempts = read_all(store)
    except Exception:
        return []  # status shows the counts even if this record cannot be read
    if not attempts:
        return []
    mine = {t.hash() for t in tasks}
    rows = []
    for h, a in attempts.items():
        if h not in mine:
            continue
        mark = snap.failed.get(h)
        state = ("finished" if h in snap.finished else "failed" if mark is not None
                 else "retrying")
        marked = mark.get("attempts") if isinstance(mark, dict) else None
        n = (a.failed + 1 if state == "finished" else
             max(a.failed, int(marked or 0)) if state == "failed" else a.failed)
        rows.append({"hash": h, "task": a.task, "state": state, "attempts": n,
                     "failed_attempts": a.failed, "error": a.error, "first_line": a.first_line,
                     "time": a.time, "retry_after": a.retry_after if state == "retrying" else None})
    return sorted(rows, key=lambda r: (r["task"], r["hash"]))


def jugfile_arg(path: str) -> str:
    """How to name ``path`` on a command line typed here: relative when below the current
    folder, nothing for ./jugfile.py (the default), quoted for the shell."""
    import os
    import shlex  # start-up time: only when a failure is reported

    if not path:
        return ""
    rel = os.path.relpath(path)
    if rel == "jugfile.py":
        return ""
    return shlex.quote(path if rel.startswith("..") else rel)


def retry_hint(path: str, again: str = "jug execute", chain: bool = False) -> str:
    """How to retry failed tasks: clear their marks, then run them again (``again``); a
    ``chain``'s hint names the jugfile in full (it is read far from where it was written)."""
    import shlex  # start-up time: only when a failure is reported

    arg = shlex.quote(path) if chain else jugfile_arg(path)
    tail = f" {arg}" if arg else ""
    transient = ("retries: N in the execute section of the project's jugrc" if chain
                 else "--retries N")
    return (f"to retry them: jug cleanup --failed-only{tail}, then {again}{tail} "
            f"(transient errors: {transient})")
