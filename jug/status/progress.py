"""Progress as a person reads it: counts in one order, rates, live workers, ETA, failures.

Computing lives in :func:`activity` and :func:`failure_rows` (called by
:func:`jug.state.taskstate.summarize`, so ``--json`` carries every figure); rendering of the plain
text (pipes, ``NO_COLOR``, batch logs) lives here too.  The terminal rendering with bars is in
:mod:`jug.status.progress_rich`, imported only when the output is a terminal, so ``jug status``
piped into a script starts as fast as before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..state.taskstate import STATES
from ..state.timings import format_duration

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
    from ..state.timings import NAMESPACE

    try:
        return store.read_docs(NAMESPACE)
    except Exception:
        return {}


def activity(store: Any, docs: dict[str, dict], total: dict[str, int],
             remaining: dict[str, int], locks: dict, now: float, stale_after: float
             ) -> Activity:
    """Throughput, live workers and ETA from the timings ``docs`` and the worker records."""
    from ..state.history import RATE_WINDOW, FinishTimes
    from ..state.shifts import live_workers, read_records
    from ..state.timings import Durations, eta_seconds

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
    from ..backends.owner import owner_summary

    rows = []
    for h, info in failed.items():
        info = info if isinstance(info, dict) else {}
        error = str(info.get("error") or "?")
        rows.append({"hash": h, "task": names.get(h, info.get("task")), "error": error,
                     "first_line": error_line(str(info.get("traceback") or ""), error),
                     "attempts": info.get("attempts"),
                     "logged_by": owner_summary(info.get("owner")) if info.get("owner") else None,
                     "time": info.get("time")})
    return sorted(rows, key=lambda r: (r["task"] or "", r["hash"]))


def retry_rows(store: Any, tasks: list, snap: Any) -> list[dict[str, Any]]:
    """One row per task of ``tasks`` that had a failed attempt (``--retries``): how many
    attempts it took or has had so far, the last error, and what became of it."""
    from ..state.attempts import read_all

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


def error_line(tb: str, error: str) -> str:
    """``ValueError: bad input`` from a traceback (its exception line), else the error's repr."""
    lines = tb.rstrip().splitlines()
    last_frame = max((i for i, ln in enumerate(lines) if ln.startswith("  File ")), default=None)
    if last_frame is not None:
        for ln in lines[last_frame + 1:]:
            if ln and not ln.startswith(" "):
                return ln[:200]
    return (error.strip().splitlines() or ["?"])[0][:200]


def counts_text(counts: dict[str, int], always: tuple[str, ...] = STATES[:5]) -> str:
    """``1 waiting, 5 ready, 0 finished, 0 running, 0 failed`` (the one order; crashed if any)."""
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES if s in always or counts.get(s))


def columns(summary: dict[str, Any]) -> tuple[str, ...]:
    """The state columns of a table: the five counts, and crashed when there are some."""
    return STATES if summary["total"].get("crashed") else STATES[:5]


def format_short(summary: dict[str, Any]) -> str:
    """One line: totals per state (``--short``)."""
    tot = summary["total"]
    text = f"{sum(tot.values())} tasks: {counts_text(tot)}"
    if summary.get("corrupt"):
        text += f" ({len(summary['corrupt'])} corrupt result(s) to recompute)"
    if summary.get("incomplete"):
        text += " (stopped at a barrier: more may follow)"
    return text


def total_line(summary: dict[str, Any]) -> str:
    """Finished %, throughput, live workers and ETA, in one line."""
    p = summary.get("progress") or {}
    tot = summary["total"]
    n = sum(tot.values())
    parts = [f"{tot.get('finished', 0)} of {n} finished ({p.get('finished_percent', 0):.0f}%)"]
    rate = p.get("rate_per_minute")
    window = format_duration(p.get("window_seconds", 300))
    parts.append(f"{rate:.1f} tasks/min over the last {window}" if rate
                 else f"none finished in the last {window}")
    live = p.get("live_workers", 0)
    parts.append(f"{live} live worker{'s' if live != 1 else ''}")
    left = sum(tot.get(k, 0) for k in LEFT)
    eta = p.get("eta_seconds", summary.get("eta_seconds"))
    if left and eta is not None:
        w = p.get("eta_workers", 1)
        parts.append(f"ETA: about {format_duration(eta)} at {w} worker{'s' if w != 1 else ''}"
                     + ("" if live else " (none running now)"))
    elif left:
        parts.append("ETA: unknown until a task of each name has run")
    return "; ".join(parts)


def jugfile_arg(path: str) -> str:
    """How to name ``path`` on a command line typed here: relative when below the current
    folder, nothing for ./jugfile.py (the default), quoted for the shell."""
    import os
    import shlex

    if not path:
        return ""
    rel = os.path.relpath(path)
    if rel == "jugfile.py":
        return ""
    return shlex.quote(path if rel.startswith("..") else rel)


def retry_hint(path: str, again: str = "jug execute", chain: bool = False) -> str:
    """How to retry failed tasks: clear their marks, then run them again (``again``); a
    ``chain``'s hint names the jugfile in full (it is read far from where it was written)."""
    import shlex

    arg = shlex.quote(path) if chain else jugfile_arg(path)
    tail = f" {arg}" if arg else ""
    transient = ("retries: N in the execute section of the project's jugrc" if chain
                 else "--retries N")
    return (f"to retry them: jug cleanup --failed-only{tail}, then {again}{tail} "
            f"(transient errors: {transient})")


def failure_lines(summary: dict[str, Any], limit: int = 10) -> list[str]:
    """Lines naming failed and crashed tasks, retried ones, and where to read more."""
    lines: list[str] = []
    failures = summary.get("failures") or []
    if failures:
        lines.append(f"Failed ({len(failures)}); full traceback: jug status --traceback "
                     "NAME|HASH|all")
        for f in failures[:limit]:
            by = f" [logged by {f['logged_by']}]" if f.get("logged_by") else ""
            after = f" (after {f['attempts']} attempts)" if f.get("attempts") else ""
            lines.append(f"  {f['task']} {f['hash'][:12]}: {f.get('first_line', f['error'])}"
                         f"{after}{by}")
        if len(failures) > limit:
            lines.append(f"  ... and {len(failures) - limit} more (jug status --json)")
        lines.append("  " + retry_hint(summary.get("jugfile", "")))
    lines.extend(_retried_lines(summary, limit))
    corrupt = summary.get("corrupt") or []
    if corrupt:
        lines.append(f"Corrupt ({len(corrupt)}): stored results that fail their check count as "
                     "not finished; 'jug execute' recomputes them")
        lines.extend(f"  {c['task']} {c['hash'][:12]}: {c['reason']} at {c['where']}"
                     for c in corrupt[:limit])
    dead = [o for o in summary["locks"]["owners"] if o.get("dead")]
    if dead:
        lines.append(f"Crashed ({len(dead)}): {len(dead)} task(s) crashed (their lock owner is "
                     "dead); the next worker or 'jug cleanup --stale' reclaims them")
        for o in dead[:limit]:
            lines.append(f"  {o.get('task')} {o['hash'][:12]}: {o['dead']}")
    return lines


def _retried_lines(summary: dict[str, Any], limit: int) -> list[str]:
    """Tasks retried (``--retries``) that finished or still wait for their next attempt
    (those that ran out of attempts are among the failed)."""
    import time

    rows = [r for r in summary.get("retries") or [] if r["state"] != "failed"]
    if not rows:
        return []
    lines = [f"Retried ({len(rows)}): tasks with failed attempts (--retries)"]
    for r in rows[:limit]:
        if r["state"] == "finished":
            what = f"finished at attempt {r['attempts']} (last error: {r['first_line']})"
        else:
            when = time.strftime("%H:%M:%S", time.localtime(r["retry_after"] or 0))
            what = (f"{r['attempts']} failed attempt(s), the last: {r['first_line']}; next "
                    f"attempt at {when} or later")
        lines.append(f"  {r['task']} {r['hash'][:12]}: {what}")
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more (jug status --json)")
    return lines


def format_table(summary: dict[str, Any]) -> str:
    """The plain status table (the tutorial's layout), then totals, failures and locks."""
    cols = columns(summary)
    label = summary.get("row_label", "Task name")  # "Pool" for jug status --by-pool
    width = max([len(label), *(len(n) for n in summary["tasks"])]) + 2
    header = f"{label:<{width}}" + "".join(f"{c.capitalize():>11}" for c in cols)
    lines = [header, "-" * len(header)]
    for name, counts in summary["tasks"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{counts[c]:>11}" for c in cols))
    lines.append("." * len(header))
    lines.append(f"{'Total:':<{width}}" + "".join(f"{summary['total'][c]:>11}" for c in cols))
    lines.append("")
    lines.append(total_line(summary))
    if summary.get("incomplete"):
        lines.append("The jugfile stopped at a barrier: more tasks may follow once these finish.")
    extra = failure_lines(summary)
    if extra:
        lines.append("")
        lines.extend(extra)
    locked = lock_line(summary)
    if locked:
        lines.extend(("", locked))
    return "\n".join(lines)


def lock_line(summary: dict[str, Any]) -> str:
    """Who runs the running tasks (empty when nothing runs)."""
    from ..backends.owner import owner_summary

    owners = [o for o in summary["locks"]["owners"] if not o.get("dead")]
    if not owners:
        return ""
    return (f"{len(owners)} task(s) running, locked by: "
            + ", ".join(sorted({owner_summary(o) for o in owners})))


def traceback_text(store: Any, target: str,
                   calls: Callable[[], dict[str, str]] | None = None) -> str:
    """The stored tracebacks of the failed tasks ``target`` names (a hash prefix, a task
    NAME as ``--target`` takes it, or ``all``), from the user's code on, each below the
    task's call (``calls()``: ``{hash: call}`` for marks that did not record theirs)."""
    failed = {h: (i if isinstance(i, dict) else {}) for h, i in store.list_failed().items()}
    chosen = select_failed(failed, target)
    missing = [h for h in chosen if not failed[h].get("call")]
    known = calls() if missing and calls is not None else {}
    return "\n\n".join(_one_traceback(h, failed[h], known.get(h)) for h in chosen)


def select_failed(failed: dict[str, dict], target: str) -> list[str]:
    """The hashes of the failed tasks ``target`` names, ordered by name; LookupError if none."""
    from ..state.taskstate import match_names

    order = sorted(failed, key=lambda h: (str(failed[h].get("task", "")), h))
    if not failed:
        raise LookupError("no task has failed")
    if target == "all":
        return order
    names = set(match_names({str(failed[h].get("task", "?")) for h in order}, target))
    hits = [h for h in order if str(failed[h].get("task", "?")) in names]
    if not hits and _is_hex(target):  # a name never starts with a digit; hashes may
        hits = [h for h in order if h.startswith(target.lower())]
    if not hits:
        known = ", ".join(f"{failed[h].get('task', '?')} {h[:12]}" for h in order[:10])
        raise LookupError(f"no failed task has a hash starting {target!r} or a name it "
                          f"matches; give a hash prefix, a task name or 'all' (failed: {known})")
    return hits


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _one_traceback(h: str, info: dict, call: str | None) -> str:
    """One failed task: what failed (after how many attempts), its call, the user's frames."""
    from ..jugfile import trim_traceback_text

    n = info.get("attempts")
    after = f" after {n} attempts" if n else ""
    lines = [f"task {info.get('task', '?')} ({h}) failed{after}: {info.get('error', '?')}"]
    call = info.get("call") or call
    lines.append(f"called as {call}" if call else "(its arguments were not recorded)")
    tb = info.get("user_traceback") or trim_traceback_text(str(info.get("traceback") or ""))
    lines.append(tb.rstrip() or "(no traceback recorded)")
    return "\n".join(lines)


def as_json(a: Activity) -> dict[str, Any]:
    """The JSON form of an :class:`Activity`."""
    return asdict(a)
