"""``jug status``: how many tasks of each name wait, are ready, run, finished or failed."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..backends import StoreError
from ..gcpause import building_graph
from ..jugfile import JugfileError, load, open_store
from ..options import Option
from ..taskstate import format_short, format_table, summarize

HELP = "Show how many tasks are waiting, ready, running, finished and failed"
TAKES_JUGFILE = True
OPTIONS = [
    Option("short", False, "One line of totals", flag=True),
    Option("json", False, "Machine-readable counts per task name, totals and lock owners",
           flag=True),
]


def status_summary(jugfile: str, jugdir: Any, argv: list[str] | None = None) -> dict[str, Any]:
    """Load ``jugfile`` against its store and return the ``--json`` document."""
    store = open_store(jugfile, jugdir)
    with building_graph():  # a quarter of the time on 200k tasks was the GC walking the graph
        loaded = load(jugfile, store, argv)
        return summarize(loaded.tasks, store, loaded.incomplete, loaded.path)


def run(args: Any) -> int:
    """Print the status table (or ``--short`` / ``--json``)."""
    try:
        summary = status_summary(args.jugfile, args.jugdir, getattr(args, "jugfile_args", None))
    except (JugfileError, StoreError) as e:
        print(f"jug: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    elif args.short:
        print(format_short(summary))
    else:
        print(format_table(summary))
    return 0
