"""``jug execute``: its options; the worker loop it starts is :mod:`jug.engine.worker`.

The command layer parses and checks what the user typed; what a worker does with it lives in
the engine, so that the loop can grow (forked workers, resource records) away from argparse.
"""

from __future__ import annotations

from typing import Any

from ..config.options import Option, OptionValueError, count, finite_seconds, seconds
from ..engine.forked import allowed_cpus, run_forked
from ..engine.retries import exception_names, retry_spec
from ..engine.worker import execute
from ..state.taskstate import NAME_FORMS, STALE_AFTER

HELP = "Run the tasks of a jugfile (-j K: K workers; or start it several times, anywhere)"


def worker_count(text: str) -> str | int:
    """``-j`` value: a positive whole number, or ``auto`` (the CPUs this process may use)."""
    value = str(text).strip().lower()
    if value == "auto":
        return "auto"
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise OptionValueError(f"expected a whole number of workers >= 1 or 'auto', got {text!r}")
    return n


TAKES_JUGFILE = True
OPTIONS = [
    Option("jobs", 1, "Run K workers: the jugfile is loaded and hashed once, then K worker "
           "processes are forked (auto: one per CPU this process may use, which in a batch "
           "job is what the scheduler granted); the exit status is the most severe of theirs",
           type=worker_count, short="-j", metavar="K"),
    Option("target", None, f"Only run the tasks NAME matches (and what they depend on); NAME: "
           f"{NAME_FORMS}", metavar="NAME"),
    Option("only", None, "Run only the tasks NAME matches (as for --target), never what they "
           "depend on (others run those; the worker leaves once all it has left waits on such "
           "tasks); repeatable", metavar="NAME", multiple=True),
    Option("exclude", None, "Run every task except those NAME matches (as for --target), "
           "leaving, like --only, once all left waits on them; repeatable",
           metavar="NAME", multiple=True),
    Option("pool", None, "The worker pool this worker belongs to (recorded in its worker "
           "record; jug submit sets it with --only/--exclude)", metavar="NAME"),
    Option("keep-going", False, "After a task fails, keep running every task that does not "
           "depend on it; the worker leaves when nothing it could run is left, and its exit "
           "status still says a task failed", flag=True),
    Option("retries", None, "Retry a task that raises up to N more times, after a back-off "
           "(see --retry-delay); NAME=N: only the tasks NAME matches (as for --target); "
           "repeatable, or comma-separated (2,fetch=5); attempts are counted in the store, "
           "across workers", metavar="N|NAME=N", multiple=True, type=retry_spec),
    Option("retry-on", None, "Retry only exceptions of these classes or their subclasses "
           "(e.g. OSError,TimeoutError; default: any Exception); repeatable",
           metavar="CLASSES", multiple=True, type=exception_names),
    Option("retry-delay", 2.0, "Seconds before the second attempt of a failed task; doubled "
           "after each further failure (at most 600); meanwhile the worker runs other tasks",
           type=seconds, metavar="SECONDS"),
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
    """Run one worker (or ``-j K`` forked ones) with the parsed options; the exit code says
    how it ended."""
    jobs = getattr(args, "jobs", 1) or 1
    k = allowed_cpus() if jobs == "auto" else int(jobs)
    return run_forked(args, k) if k > 1 else execute(args)
