"""``jug status``: how many tasks of each name wait, are ready, finished, run or failed.

On a terminal the table has a bar per task name (rich, imported only then); piped or with
``NO_COLOR`` it is plain text with the same figures; ``--json`` is the stable interface for
scripts.  ``--watch`` redraws until no task is ready or running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any, Callable

from ..backends import StoreError
from ..config.options import Option
from ..engine.gcpause import building_graph
from ..jugfile import JugfileError, load, open_store
from ..state.taskstate import summarize
from ..status.progress import ChainState, format_short, format_table, traceback_text
from ..status.resources import death_lines, format_resources

HELP = "Show how many tasks are waiting, ready, finished, running and failed"
TAKES_JUGFILE = True
OPTIONS = [
    Option("short", False, "One line of totals", flag=True),
    Option("json", False, "Machine-readable counts per task name, totals, progress, failures "
           "and lock owners", flag=True),
    Option("by-pool", False, "Group the counts by worker pool (the 'pools' of the jug submit "
           "profile) instead of by task name", flag=True),
    Option("resources", False, "What each task name used: run time median/max, CPU "
           "efficiency (CPU / wall), peak memory median/max", flag=True),
    Option("traceback", None, "Print the stored traceback (from your code on) and the call of "
           "the failed tasks WHICH names: a hash prefix, a task NAME (as --target takes it) or "
           "'all'", metavar="WHICH"),
]
#: seconds between redraws of a bare ``--watch``
WATCH_DEFAULT = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--watch [SECONDS]`` (an optional value, which the Option table cannot express)."""
    parser.add_argument("--watch", nargs="?", const=str(WATCH_DEFAULT), default=None,
                        metavar="SECONDS", help="Redraw every SECONDS (default "
                        f"{WATCH_DEFAULT:g}) until no task is ready or running (all finished, "
                        "failed, or waiting on failed ones); Ctrl-C leaves")


def status_summary(jugfile: str, jugdir: Any, argv: list[str] | None = None) -> dict[str, Any]:
    """Load ``jugfile`` against its store and return the ``--json`` document."""
    store = open_store(jugfile, jugdir)
    with building_graph():  # a quarter of the time on 200k tasks was the GC walking the graph
        loaded = load(jugfile, store, argv)
        summary = summarize(loaded.tasks, store, loaded.incomplete, loaded.path, verify=True)
    add_chain(summary, store, loaded.path or jugfile)
    add_pools(summary, store, jugfile)
    return summary


def add_chain(summary: dict[str, Any], store: Any, jugfile: str) -> None:
    """The chain's lines (``chain``) and its state (``chain_state``: None without a chain)."""
    from ..hpc.chain.records import Chain, describe  # the toolkit only for jug status itself

    chain = Chain.load(store, jugfile)
    summary["chain"] = describe(chain) if chain is not None else []
    summary["chain_state"] = None if chain is None else asdict(ChainState(
        chain.status, len(chain.generations), chain.max_generations, chain.reason))


def short_line(summary: dict[str, Any]) -> str:
    """``--short``: the totals and, with a chain, its state, on one line."""
    state = summary.get("chain_state")
    text = format_short(summary)
    return f"{text}; {ChainState(**state).text()}" if state else text


def add_pools(summary: dict[str, Any], store: Any, jugfile: str) -> None:
    """The pool of each task name (``pools``) and the allocation account (``report``)."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_settings import pools_from_settings
    from ..hpc.profiles import ProfileError, merge
    from ..hpc.report import build, report_json
    from ..state.membership import assign
    from ..state.shifts import read_records

    try:
        pools = pools_from_settings(merge(jugfile, None, {})[0])
    except ProfileError:
        pools = []  # jug submit reports a broken profile; status still shows the counts
    summary["pools"] = assign(summary["tasks"], pools)
    target = os.path.abspath(jugfile)
    records = [r for r in read_records(store) if r.jugfile == target]
    finished: dict[str, int] = {}
    for name, counts in summary["tasks"].items():
        pool = summary["pools"][name]
        finished[pool] = finished.get(pool, 0) + counts.get("finished", 0)
    summary["report"] = report_json(build(records, finished)) if records else {}


def group_by_pool(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with its per-name counts summed per pool (for ``--by-pool``)."""
    grouped: dict[str, dict[str, int]] = {}
    for name, counts in summary["tasks"].items():
        pool = summary.get("pools", {}).get(name, "default")
        into = grouped.setdefault(pool, dict.fromkeys(counts, 0))
        for state, n in counts.items():
            into[state] = into.get(state, 0) + n
    return {**summary, "tasks": grouped, "durations": {}, "row_label": "Pool"}


def fancy_output(stream: Any = None) -> bool:
    """True when ``stream`` (stdout) is a terminal and ``NO_COLOR`` is not set."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def all_done(summary: dict[str, Any]) -> bool:
    """Nothing can change any more: no task ready, running or crashed (to be reclaimed).

    Waiting tasks left then wait on failed ones (directly or not), and a jugfile stopped at
    a barrier with nothing to run stays stopped: watching longer would show nothing new.
    """
    return not any(summary["total"].get(k) for k in ("ready", "running", "crashed"))


def _render(args: Any, summary: dict[str, Any]) -> str:
    if getattr(args, "by_pool", False):
        summary = group_by_pool(summary)
    if args.json:
        return json.dumps(summary, indent=1, default=str)
    if getattr(args, "resources", False):
        return format_resources(summary)
    if args.short:  # one line, chain or not: the chain's generations are in the full status
        return short_line(summary)
    # the workers that died running a task, and a --until-done chain, say how they are
    return "\n".join([format_table(summary), *death_lines(summary), *summary.get("chain", [])])


def _watch_plain(get: Callable[[], dict], args: Any, seconds: float) -> None:
    """Piped ``--watch``: print a fresh rendering each time (no escape codes)."""
    while True:
        summary = get()
        print(_render(args, summary), flush=True)
        if all_done(summary):
            return
        time.sleep(seconds)
        print()


def _watch(get: Callable[[], dict], args: Any, fancy: bool) -> None:
    if fancy:
        # start-up time: jug --help imports every command module
        from ..status.progress_rich import watch

        watch(get, args.watch, all_done)
    else:
        _watch_plain(get, args, args.watch)


def _validate(args: Any) -> str | None:
    """Turn ``args.watch`` into seconds (None: no watching); an error message if it is bad."""
    raw = getattr(args, "watch", None)
    if raw is None:
        return None
    try:
        args.watch = float(raw)
    except ValueError:
        # ``jug status --watch run.py``: the optional SECONDS took the jugfile
        if raw.endswith(".py") and args.jugfile == "jugfile.py":
            args.jugfile, args.watch = raw, WATCH_DEFAULT
            return None
        return f"--watch {raw}: give a positive number of seconds"
    if not (args.watch > 0 and args.watch < float("inf")):
        return f"--watch {raw}: give a positive number of seconds"
    return None


def _calls(args: Any, store: Any, argv: list[str] | None) -> dict[str, str]:
    """``{hash: call}`` of the jugfile's tasks, for failure marks that did not record their
    call (written by an older jug); empty if the jugfile does not load."""
    try:
        with building_graph():
            loaded = load(args.jugfile, store, argv)
    except JugfileError:
        return {}
    return {t.hash(): t.call_repr() for t in loaded.tasks}


def run(args: Any) -> int:
    """Print the status (table, ``--short``, ``--json``, or ``--traceback``), once or watching."""
    bad = _validate(args)
    if bad:
        print(f"jug: {bad}", file=sys.stderr)
        return 2
    argv = getattr(args, "jugfile_args", None)
    try:
        if args.traceback:
            store = open_store(args.jugfile, args.jugdir)
            print(traceback_text(store, args.traceback, lambda: _calls(args, store, argv)))
            return 0
        get = lambda: status_summary(args.jugfile, args.jugdir, argv)  # noqa: E731
        fancy = fancy_output() and not (args.json or args.short or args.by_pool
                                        or getattr(args, "resources", False))
        if getattr(args, "watch", None):
            _watch(get, args, fancy)
        elif fancy:
            # start-up time: jug --help imports every command module
            from ..status.progress_rich import print_summary

            summary = get()
            print_summary(summary)
            for line in [*death_lines(summary), *summary.get("chain", [])]:
                print(line)
        else:
            print(_render(args, get()))
    except (JugfileError, StoreError, LookupError) as e:
        print(f"jug: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
