"""Progress as a person reads it: counts in one order, rates, live workers, ETA, failures.

The figures are computed below, in :mod:`jug.state.activity` (called by
:func:`jug.state.taskstate.summarize`, so ``--json`` carries every figure); this is the
rendering of the plain text (pipes, ``NO_COLOR``, batch logs).  The terminal rendering with bars is in
:mod:`jug.status.progress_rich`, imported only when the output is a terminal, so ``jug status``
piped into a script starts as fast as before.
"""

from __future__ import annotations

from typing import Any

from ..backends.owner import owner_summary
from ..state.activity import LEFT
from ..state.taskstate import STATES
from ..state.timings import format_duration


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


def failure_lines(summary: dict[str, Any], limit: int = 10) -> list[str]:
    """Lines naming failed and crashed tasks, and where to read more."""
    lines: list[str] = []
    failures = summary.get("failures") or []
    if failures:
        lines.append(f"Failed ({len(failures)}); full traceback: jug status --traceback HASH")
        for f in failures[:limit]:
            by = f" [logged by {f['logged_by']}]" if f.get("logged_by") else ""
            lines.append(f"  {f['task']} {f['hash'][:12]}: {f.get('first_line', f['error'])}{by}")
        if len(failures) > limit:
            lines.append(f"  ... and {len(failures) - limit} more (jug status --json)")
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
    owners = [o for o in summary["locks"]["owners"] if not o.get("dead")]
    if not owners:
        return ""
    return (f"{len(owners)} task(s) running, locked by: "
            + ", ".join(sorted({owner_summary(o) for o in owners})))


def traceback_text(store: Any, prefix: str) -> str:
    """The stored traceback of the failed task whose hash starts with ``prefix``."""
    failed = store.list_failed()
    hits = [h for h in failed if h.startswith(prefix)]
    if len(hits) != 1:
        known = ", ".join(h[:12] for h in sorted(failed)[:10]) or "none"
        what = "no failed task" if not hits else f"{len(hits)} failed tasks"
        raise LookupError(f"{what} with a hash starting {prefix!r} (failed: {known})")
    info = failed[hits[0]] if isinstance(failed[hits[0]], dict) else {}
    head = f"task {info.get('task', '?')} ({hits[0]}) failed: {info.get('error', '?')}"
    return head + "\n" + str(info.get("traceback") or "(no traceback recorded)").rstrip()


