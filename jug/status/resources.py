"""``jug status --resources``: what the runs of each task name used.

Per task name: runs measured, run time median and max, CPU efficiency (CPU seconds per wall
second: near 0 for a task that waits or sleeps, near 1 for one busy core, above 1 for a task
using several cores), peak resident memory median and max (see :mod:`jug.state.usage` for how
each figure is measured).  Read from the ``resources`` part of the status document.
"""

from __future__ import annotations

from typing import Any

from ..state.timings import format_duration
from ..state.usage import format_bytes

HEAD = ("Task name", "runs", "time med", "time max", "CPU eff", "peak med", "peak max")


def resource_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row of strings per task name that ran at least once (the table's cells)."""
    rows = []
    for name, r in (summary.get("resources") or {}).items():
        eff = r.get("cpu_efficiency")
        rows.append((name, str(r.get("runs", 0)), _secs(r.get("wall_median")),
                     _secs(r.get("wall_max")), "-" if eff is None else f"{100 * eff:.0f}%",
                     format_bytes(r.get("peak_median_bytes")),
                     format_bytes(r.get("peak_max_bytes"))))
    return rows


def _secs(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}s" if x < 10 else format_duration(x)


def format_resources(summary: dict[str, Any]) -> str:
    """The plain-text table (``-`` where a figure is unknown)."""
    rows = resource_rows(summary)
    if not rows:
        return "No task has run yet: no resource figures."
    width = max(len(HEAD[0]), *(len(r[0]) for r in rows))
    fmt = "{:<" + str(width) + "}  {:>5}  {:>9}  {:>9}  {:>7}  {:>9}  {:>9}"
    return "\n".join([fmt.format(*HEAD), *(fmt.format(*r) for r in rows)])


def death_lines(summary: dict[str, Any]) -> list[str]:
    """One line per task whose worker died while running it, saying why (where known)."""
    out = []
    for d in summary.get("deaths") or []:
        counts = ""
        if "counted" in d:
            counts = f"; {d['counted']} death(s) counted towards a crash loop"
            if d.get("not_counted"):
                counts += f", {d['not_counted']} not (not the task's doing)"
        elif not d.get("task_could_cause", True):
            counts = "; not the task's doing: not counted towards a crash loop"
        why = d["why"]
        pool = (summary.get("pools") or {}).get(d.get("task"))
        if (d.get("fate") or {}).get("cause") == "out of memory" and pool:
            why += f": needs more memory than pool {pool} has"
        out.append(f"worker died running {d.get('task') or '?'} ({str(d['hash'])[:12]}, lock "
                   f"{d['lock']}): {why}{counts}")
    return out
