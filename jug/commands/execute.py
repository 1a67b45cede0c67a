"""``jug execute``: its options; the worker loop it starts is :mod:`jug.engine.worker`.

The command layer parses and checks what the user typed; what a worker does with it lives in
the engine, so that the loop can grow (forked workers, resource records) away from argparse.
"""

from __future__ import annotations

from typing import Any

from ..config.options import Option, count, finite_seconds, seconds
from ..engine.worker import execute
from ..state.taskstate import STALE_AFTER

HELP = "Run the tasks of a jugfile (start it several times to run in parallel)"
TAKES_JUGFILE = True
OPTIONS = [
    Option("target", None, "Only run tasks whose name is NAME or starts with NAME "
           "(and what they depend on)", metavar="NAME"),
    Option("only", None, "Run only the tasks whose name is NAME or starts with NAME, never "
           "what they depend on (others run those; the worker leaves once all it has left "
           "waits on such tasks); repeatable", metavar="NAME", multiple=True),
    Option("exclude", None, "Run every task except those whose name is NAME or starts with "
           "NAME (leaving, like --only, once all left waits on them); repeatable",
           metavar="NAME", multiple=True),
    Option("pool", None, "The worker pool this worker belongs to (recorded in its worker "
           "record; jug submit sets it with --only/--exclude)", metavar="NAME"),
    Option("keep-going", False, "Keep running independent tasks after a task fails", flag=True),
    Option("aggressive-unload", False, "Unload each result from memory as soon as it is saved",
           flag=True),
    Option("pdb", False, "Start the Python debugger when a task raises", flag=True),
    Option("debug", False, "Debug mode: check that tasks do not modify their arguments", flag=True),
    Option("nr-wait-cycles", 20, "How many wait cycles in a row without progress to wait for "
           "other workers' tasks this worker needs before giving up (a worker with nothing "
           "left it could run leaves at once)", type=count),
    Option("wait-cycle-time", 12.0, "Seconds per wait cycle; while waiting, the worker looks at "
           "the locks it waits for after 10 ms, then at intervals growing to this", type=seconds),
    Option("heartbeat", 60.0, "Seconds between heartbeats of the running task's lock "
           "(0: none)", type=seconds),
    Option("stale-after", STALE_AFTER, "A lock whose owner on another host has not sent a heartbeat "
           "for this many seconds is reclaimed by an idle worker (owners on this host are "
           "reclaimed as soon as their process is gone; <= 0: only those)", type=finite_seconds),
    Option("verify-limit", 20000, "At start, check the integrity (header and length, and the "
           "checksum of results up to 4 KiB) of the stored results of up to this many finished "
           "tasks, so corrupt ones are recomputed (-1: all; 0: none; results are always "
           "checksummed when loaded; 'jug check --verify' checks every checksum)", type=int),
]


def run(args: Any) -> int:
    """Run one worker with the parsed options; its exit code says how it ended."""
    return execute(args)
