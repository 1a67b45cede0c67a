"""Progress as a person reads it: counts in one order, rates, live workers, ETA, failures.

The figures are computed below, in :mod:`jug.state.activity` (called by
:func:`jug.state.taskstate.summarize`, so ``--json`` carries every figure); this is the
rendering of the plain text (pipes, ``NO_COLOR``, batch logs).  The terminal rendering with bars is in
:mod:`jug.status.progress_rich`, imported only when the output is a terminal, so ``jug status``
piped into a script starts as fast as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ..backends.owner import owner_summary
from ..jugfile import trim_traceback_text
from ..state.activity import LEFT
from ..state.attempts import retry_hint
from ..state.taskstate import STATES, match_names
from ..state.timings import format_duration


@dataclass(frozen=True)
class ChainState:
    """Where a ``--until-done`` chain is, from its record: one line's worth (``--short``, the
    web page's heading); the generations and the last plan are in ``chain`` (full status)."""

    status: str
    generations: int
    max_generations: int
    reason: str

    def text(self) -> str:
        """``chain running, generation 2 of at most 21``."""
        return (f"chain {self.status}, generation {self.generations} of at most "
                f"{self.max_generations}")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 worker``, ``2 workers`` (``many``: an irregular plural): counts read as words."""
    return f"{n} {word if n == 1 else many or word + 's'}"


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
        text += f" ({plural(len(summary['corrupt']), 'corrupt result')} to recompute)"
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
        lines.append(f"Crashed ({len(dead)}): {plural(len(dead), 'task')} crashed (their lock "
                     "owner is dead); the next worker or 'jug cleanup --stale' reclaims them")
        for o in dead[:limit]:
            lines.append(f"  {o.get('task')} {o['hash'][:12]}: {o['dead']}")
    return lines


def _retried_lines(summary: dict[str, Any], limit: int) -> list[str]:
    """Tasks retried (``--retries``) that finished or still wait for their next attempt
    (those that ran out of attempts are among the failed)."""
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
    owners = [o for o in summary["locks"]["owners"] if not o.get("dead")]
    if not owners:
        return ""
    return (f"{plural(len(owners), 'task')} running, locked by: "
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
    n = info.get("attempts")
    after = f" after {n} attempts" if n else ""
    lines = [f"task {info.get('task', '?')} ({h}) failed{after}: {info.get('error', '?')}"]
    call = info.get("call") or call
    lines.append(f"called as {call}" if call else "(its arguments were not recorded)")
    tb = info.get("user_traceback") or trim_traceback_text(str(info.get("traceback") or ""))
    lines.append(tb.rstrip() or "(no traceback recorded)")
    return "\n".join(lines)


