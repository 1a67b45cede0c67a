"""``jug check``: exit 0 if every task of the jugfile is finished, 1 otherwise.

A jugfile that stops at a barrier is not finished (tasks after the barrier are still to come).
Exit code 2 means the question could not be answered (jugfile error, unusable store).
"""

from __future__ import annotations

import sys
from typing import Any

from ..backends import Store
from ..config.options import Option
from ..jugfile import Loaded
from ..state.integrity import find_damaged
from ..state.taskstate import summarize
from ..status.progress import format_short
from ._common import CommandError, open_and_load, report

HELP = "Exit with 0 if every task is finished, 1 if not (2 on errors)"
TAKES_JUGFILE = True
OPTIONS = [
    Option("verify", False, "Check the checksum of every stored result (reads them all); "
           "corrupt ones are reported and removed, so 'jug execute' recomputes them", flag=True),
]


def all_done(store: Store, loaded: Loaded, full: bool = False) -> bool:
    """True if the jugfile loaded past every barrier and every task has an intact result.

    Results get the cheap check (see :mod:`jug.state.integrity`), or the full one with ``full``;
    corrupt ones are reported on stderr.
    """
    if loaded.incomplete:
        return False
    finished = set(store.list())
    damaged = find_damaged(store, loaded.tasks, finished, full=full)
    for d in damaged:
        print(f"jug check: corrupt result of task {d.line()}"
              + ("; removed, 'jug execute' recomputes it" if full else ""), file=sys.stderr)
        if full:
            store.remove(d.key)
    finished.difference_update(d.key for d in damaged)
    return all(t.hash() in finished for t in loaded.tasks)


def run(args: Any) -> int:
    """0 when done, 1 when not; with ``--verbose info`` also a one-line summary."""
    try:
        store, loaded = open_and_load(args)
    except CommandError as e:
        return report(e) if e.code != 1 else report(CommandError(str(e), 2))
    done = all_done(store, loaded, full=bool(args.verify))
    if args.verbose != "quiet":
        print(format_short(summarize(loaded.tasks, store, loaded.incomplete, loaded.path,
                                     verify=True)))
    if not done and loaded.incomplete and args.verbose != "quiet":
        print("jug check: not done: the jugfile stops at a barrier", file=sys.stderr)
    return 0 if done else 1
