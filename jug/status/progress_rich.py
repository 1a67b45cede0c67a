"""``jug status`` on a terminal: a bar per task name, drawn with rich.

Imported only when standard output is a terminal without ``NO_COLOR`` (rich costs tens of
milliseconds to import, which scripts piping ``jug status`` should not pay).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .progress import columns, failure_lines, lock_line, total_line

_STYLE = {"waiting": "dim", "ready": "yellow", "finished": "green", "running": "cyan",
          "failed": "bold red", "crashed": "magenta"}


def _bar(counts: dict[str, int]) -> ProgressBar:
    n = sum(counts.values())
    bad = counts.get("failed", 0) + counts.get("crashed", 0)
    return ProgressBar(total=max(n, 1), completed=counts.get("finished", 0), width=24,
                       complete_style="red" if bad else "green", finished_style="green")


def renderable(summary: dict[str, Any]) -> Group:
    """The table with bars, the total line and the failures, as one rich renderable."""
    cols = columns(summary)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Task name", no_wrap=True)
    table.add_column("Progress", no_wrap=True)
    table.add_column("%", justify="right")
    for c in cols:
        table.add_column(c.capitalize(), justify="right", style=_STYLE[c])
    rows = [*summary["tasks"].items(), ("Total", summary["total"])]
    for i, (name, counts) in enumerate(rows):
        n = sum(counts.values())
        pct = 100 * counts.get("finished", 0) / n if n else 100
        table.add_row(Text(name, style="bold" if i == len(rows) - 1 else ""), _bar(counts),
                      f"{pct:.0f}%", *(str(counts.get(c, 0)) for c in cols),
                      end_section=i == len(rows) - 2)
    parts: list[Any] = [table, Text(""), Text(total_line(summary), style="bold")]
    if summary.get("incomplete"):
        parts.append(Text("The jugfile stopped at a barrier: more tasks may follow once these "
                          "finish.", style="yellow"))
    extra = failure_lines(summary)
    if extra:
        parts.append(Text(""))
        parts.extend(Text(line, style="red" if not line.startswith("  ") else "") for line in extra)
    locked = lock_line(summary)
    if locked:
        parts.extend((Text(""), Text(locked, style="cyan")))
    return Group(*parts)


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the terminal rendering once."""
    (console or Console()).print(renderable(summary))


def watch(get_summary: Any, seconds: float, done: Any) -> None:
    """Redraw in place every ``seconds`` until ``done(summary)`` (Ctrl-C leaves)."""
    from rich.live import Live  # start-up time: rich loads only on a terminal

    summary = get_summary()
    with Live(renderable(summary), auto_refresh=False, transient=False) as live:
        while not done(summary):
            time.sleep(seconds)
            summary = get_summary()
            live.update(renderable(summary), refresh=True)
