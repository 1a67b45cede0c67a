"""``jug sleep-until``: wait until every task is finished (exit 0) or cannot finish (exit 1).

Polls the store with one bulk read per cycle.  A jugfile stopped at a barrier is loaded again
each cycle so that the tasks after the barrier are waited for too.  Tasks that failed, and
every task depending on a failed one, can never finish: once nothing else is left, it returns.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..config.options import Option
from ..state.taskstate import Snapshot, base_dependencies, unique_tasks
from ._common import CommandError, open_and_load, report

HELP = "Wait until all tasks are finished (or failed); reloads the jugfile past barriers"
TAKES_JUGFILE = True
OPTIONS = [
    Option("poll-interval", 5.0, "Seconds between two looks at the store", type=float,
           metavar="SECONDS"),
    Option("timeout", 0.0, "Give up (exit 3) after this many seconds; 0 waits forever",
           type=float, metavar="SECONDS"),
]

EXIT_FAILED = 1
EXIT_TIMEOUT = 3


def blocked(tasks: list, snap: Snapshot) -> tuple[list, list]:
    """(tasks not finished that can still finish, tasks failed or behind a failure)."""
    dead: set[str] = set()
    live, stuck = [], []
    for t in unique_tasks(tasks):  # definition order is topological
        h = t.hash()
        if h in snap.finished:
            continue
        if h in snap.failed or any(d.hash() in dead for d in base_dependencies(t)):
            dead.add(h)
            stuck.append(t)
        else:
            live.append(t)
    return live, stuck


def run(args: Any) -> int:
    """Poll until done (0), failed (1) or ``--timeout`` (3)."""
    try:
        return _run(args)
    except CommandError as e:
        return report(CommandError(str(e), 2))


def _run(args: Any) -> int:
    interval = max(0.05, float(args.poll_interval))
    deadline = time.monotonic() + args.timeout if args.timeout and args.timeout > 0 else None
    store, loaded = open_and_load(args)
    while True:
        snap = Snapshot(store)
        live, stuck = blocked(loaded.tasks, snap)
        if not live:
            if stuck:
                failed = sorted({t.name for t in stuck if t.hash() in snap.failed})
                print(f"jug sleep-until: {len(stuck)} task(s) cannot finish: failed: "
                      f"{', '.join(failed)} (and the tasks depending on them); see "
                      "'jug status' and 'jug cleanup --failed-only'", file=sys.stderr)
                return EXIT_FAILED
            if not loaded.incomplete:
                return 0
            # every task before the barrier is done: the next load goes further
            _, loaded = open_and_load(args)
            if not loaded.incomplete or blocked(loaded.tasks, Snapshot(store))[0]:
                continue
        if deadline is not None and time.monotonic() >= deadline:
            print(f"jug sleep-until: timed out after {args.timeout:g}s with {len(live)} "
                  "task(s) not finished", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(interval)
        if loaded.incomplete:
            _, loaded = open_and_load(args)
