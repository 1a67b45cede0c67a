"""Progress as figures: how fast the work goes (finished per minute, live workers, ETA), how
workers left, and one row per failed task.  :func:`jug.state.taskstate.summarize` puts them in
the ``jug status --json`` document; :mod:`jug.status.progress` renders them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from ..backends.owner import owner_summary
from .history import RATE_WINDOW, FinishTimes
from .shifts import live_workers, read_records
from .timings import NAMESPACE, Durations, eta_seconds

#: the states still to run: what an ETA is about
LEFT = ("waiting", "ready", "running")



@dataclass
class Activity:
    """How fast it goes: the ``progress`` section of ``jug status --json``."""

    finished_percent: float
    rate_per_minute: float | None  # finished tasks per minute over the last window
    window_seconds: float
    live_workers: int
    workers_recorded: int
    eta_seconds: float | None
    eta_workers: int  # the worker count the ETA assumes
    exits: dict[str, int]  # workers that left, per reason (``jug.state.shifts.ExitReason``)


def timing_docs(store: Any) -> dict[str, dict]:
    """Every worker's timings document (one bulk read; empty if unreadable)."""
    try:
        return store.read_docs(NAMESPACE)
    except Exception:
        return {}


def activity(store: Any, docs: dict[str, dict], total: dict[str, int],
             remaining: dict[str, int], locks: dict, now: float, stale_after: float
             ) -> Activity:
    """Throughput, live workers and ETA from the timings ``docs`` and the worker records."""
    rate = FinishTimes.from_timing_docs(docs).rate(now)
    beats = {name: float(d.get("time") or 0) for name, d in docs.items() if isinstance(d, dict)}
    records = read_records(store)
    live = live_workers(records, locks, beats, stale_after)
    n_live = len(live) or len({(o.get("host"), o.get("pid")) for o in locks.values()})
    eta = eta_seconds(remaining, Durations(docs), max(n_live, 1))
    left = sum(total.get(k, 0) for k in LEFT)
    if eta is None and rate and n_live:
        eta = left / rate
    all_tasks = sum(total.values())
    return Activity(
        finished_percent=100.0 * total.get("finished", 0) / all_tasks if all_tasks else 100.0,
        rate_per_minute=None if rate is None else rate * 60, window_seconds=RATE_WINDOW,
        live_workers=n_live, workers_recorded=len(records),
        eta_seconds=eta if left else 0.0, eta_workers=max(n_live, 1),
        exits=dict(Counter(r.reason for r in records if r.ended is not None)))


def failure_rows(failed: dict[str, dict], names: dict[str, str]) -> list[dict[str, Any]]:
    """One row per failed task: name, hash, first line of the error, who logged it, when."""
    rows = []
    for h, info in failed.items():
        info = info if isinstance(info, dict) else {}
        error = str(info.get("error") or "?")
        rows.append({"hash": h, "task": names.get(h, info.get("task")), "error": error,
                     "first_line": error_line(str(info.get("traceback") or ""), error),
                     "attempts": info.get("attempts"),  # with --retries: how many it had
                     "logged_by": owner_summary(info.get("owner")) if info.get("owner") else None,
                     "time": info.get("time")})
    return sorted(rows, key=lambda r: (r["task"] or "", r["hash"]))


def error_line(tb: str, error: str) -> str:
    """``ValueError: bad input`` from a traceback (its exception line), else the error's repr."""
    lines = tb.rstrip().splitlines()
    last_frame = max((i for i, ln in enumerate(lines) if ln.startswith("  File ")), default=None)
    if last_frame is not None:
        for ln in lines[last_frame + 1:]:
            if ln and not ln.startswith(" "):
                return ln[:200]
    return (error.strip().splitlines() or ["?"])[0][:200]


def as_json(a: Activity) -> dict[str, Any]:
    """The JSON form of an :class:`Activity`."""
    return asdict(a)
