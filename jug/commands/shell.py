"""``jug shell jugfile.py``: IPython with the jugfile's namespace, its results at hand.

Besides every name the jugfile defines, the shell has ``value(t)`` (load a result),
``invalidate(t)`` (remove ``t``'s result and those of every loaded task depending on it),
``store`` (the store), ``tasks`` (every loaded Task) and ``jug`` (the module).
``--command CODE`` runs CODE in that namespace (through IPython) instead of prompting.
"""

from __future__ import annotations

import argparse
import sys
import types
from typing import Any, Iterable

import jug

from ..task import Task, TaskLike, value
from ._common import CommandError, dependents_closure, invalidate_tasks, open_and_load, report

HELP = "Open an IPython shell with the jugfile's tasks, value(), invalidate() and the store"
TAKES_JUGFILE = True
OPTIONS: list = []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--command``: a one-off action, so not read from config files or the environment."""
    parser.add_argument("-c", "--command", default=None, metavar="CODE",
                        help="Run this Python/IPython code in the shell's namespace and exit "
                        "(exit code 1 if it raises)")

_NO_IPYTHON = ("jug shell needs IPython, which is not installed. Install it in the jug "
               "checkout with: python -m pip install '.[shell]' (or: python -m pip install "
               "ipython); not pip install 'jug[shell]', which installs the unrelated Jug of the "
               "package index.")


def make_invalidate(store: Any, tasks: list[Task], jugfile: str | None = None) -> Any:
    """The shell's ``invalidate(t)``: ``t`` (a task, Tasklet or list) and its dependents."""

    def invalidate(t: TaskLike | Iterable[TaskLike]) -> int:
        """Remove the results of ``t`` and of every loaded task depending on it; returns count."""
        items = [t] if isinstance(t, TaskLike) else list(t)
        roots: list[Task] = []
        for x in items:
            if not isinstance(x, TaskLike):
                raise TypeError(f"invalidate() takes tasks, got {x!r}")
            roots.extend(x.base_tasks())
        chosen = dependents_closure(tasks, roots)
        results, marks = invalidate_tasks(store, chosen, jugfile=jugfile)
        for name, n in results.items():
            print(f"  {name}: {n} result(s) removed")
        return sum(results.values())

    return invalidate


def namespace(store: Any, loaded: Any) -> dict:
    """The shell namespace: the jugfile's names plus jug's helpers."""
    ns = dict(loaded.namespace)
    ns.update(value=value, invalidate=make_invalidate(store, list(loaded.tasks), loaded.path),
              store=store, tasks=list(loaded.tasks), jug=jug)
    return ns


def _banner(loaded: Any, store: Any) -> str:
    lines = [f"jug shell: {loaded.path} ({len(loaded.tasks)} task(s)), store {store.description}",
             "Available: value(task), invalidate(task), store, tasks, and the jugfile's names."]
    if loaded.incomplete:
        lines.append("Note: the jugfile stopped at a barrier; tasks after it are not loaded.")
    return "\n".join(lines) + "\n"


def run(args: Any) -> int:
    """Load the jugfile and open IPython (or run ``--command``)."""
    try:
        # optional dependency (the shell extra), and start-up time
        from IPython.terminal.embed import InteractiveShellEmbed
    except ImportError:
        print(f"jug: {_NO_IPYTHON}", file=sys.stderr)
        return 2
    try:
        store, loaded = open_and_load(args)
    except CommandError as e:
        return report(e)
    ns = namespace(store, loaded)
    if args.command is not None:
        shell = InteractiveShellEmbed(user_ns=ns, banner1="", display_banner=False)
        result = shell.run_cell(args.command, store_history=False)
        sys.stdout.flush()
        return 0 if result.success else 1
    shell = InteractiveShellEmbed(user_ns=ns, banner1=_banner(loaded, store),
                                  exit_msg="Leaving jug shell")
    module = types.ModuleType(loaded.namespace.get("__name__", "__main__"))
    module.__dict__.update(ns)
    shell(local_ns=module.__dict__, module=module)
    return 0
