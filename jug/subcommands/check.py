"""``jug check``: exit 0 if every task of the jugfile is finished, 1 otherwise.

A jugfile that stops at a barrier is not finished (tasks after the barrier are still to come).
Exit code 2 means the question could not be answered (jugfile error, unusable store).
"""

from __future__ import annotations

import sys
from typing import Any

from ..backends import Store
from ..jugfile import Loaded
from ..progress import format_short
from ..taskstate import summarize
from ._common import CommandError, open_and_load, report

HELP = "Exit with 0 if every task is finished, 1 if not (2 on errors)"
TAKES_JUGFILE = True
OPTIONS: list = []


def all_done(store: Store, loaded: Loaded) -> bool:
    """True if the jugfile loaded past every barrier and every task has its result."""
    if loaded.incomplete:
        return False
    finished = set(store.list())
    return all(t.hash() in finished for t in loaded.tasks)


def run(args: Any) -> int:
    """0 when done, 1 when not; with ``--verbose info`` also a one-line summary."""
    try:
        store, loaded = open_and_load(args)
    except CommandError as e:
        return report(e) if e.code != 1 else report(CommandError(str(e), 2))
    done = all_done(store, loaded)
    if args.verbose != "quiet":
        print(format_short(summarize(loaded.tasks, store, loaded.incomplete, loaded.path)))
    if not done and loaded.incomplete and args.verbose != "quiet":
        print("jug check: not done: the jugfile stops at a barrier", file=sys.stderr)
    return 0 if done else 1
