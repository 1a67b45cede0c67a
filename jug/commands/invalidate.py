"""``jug invalidate --target NAME``: forget results of the named tasks and of all their dependents.

NAME is a full task name (``jugfile.compute``), a name after its module (``compute``), or a
prefix of either (``comp``); the most specific of these forms that matches is used
(:func:`jug.taskstate.match_names`, shared by every option naming tasks).  Every task depending on a
matched task (directly, or through Tasklets such as ``t[0]``) loses its result too, so that
``jug execute`` recomputes the whole downstream chain; other results stay.
"""

from __future__ import annotations

import sys
from typing import Any

from ..config.options import Option
from ..state.taskstate import NAME_FORMS
from ._common import (
    CommandError,
    dependents_closure,
    invalidate_tasks,
    known_names,
    match_tasks,
    open_and_load,
    report,
)

HELP = "Remove the results of the named tasks and of every task that depends on them"
TAKES_JUGFILE = True
OPTIONS = [
    Option("target", None, f"The tasks to invalidate (required); NAME: {NAME_FORMS}",
           metavar="NAME", aliases=("invalid",)),
    Option("dry-run", False, "Only print what would be removed", flag=True),
]


def run(args: Any) -> int:
    """Invalidate ``--target`` and its dependents; print counts per task name."""
    try:
        return _run(args)
    except CommandError as e:
        return report(e)


def _run(args: Any) -> int:
    if not args.target:
        raise CommandError("invalidate needs --target NAME (the task name to invalidate)", 2)
    store, loaded = open_and_load(args)
    roots = match_tasks(loaded.tasks, args.target)
    if not roots:
        names = known_names(loaded.tasks)
        listing = "\n  ".join(names) if names else "(the jugfile defines no tasks)"
        extra = (" (the jugfile stopped at a barrier: tasks defined after it are not known yet)"
                 if loaded.incomplete else "")
        raise CommandError(f"no task is named {args.target!r}{extra}. Known task names:\n  "
                           f"{listing}")
    chosen = dependents_closure(loaded.tasks, roots)
    results, marks = invalidate_tasks(store, chosen, dry_run=args.dry_run,
                                      jugfile=loaded.path or args.jugfile)
    verb = "Would remove" if args.dry_run else "Removed"
    width = max(len(n) for n in results)
    print(f"{verb} results (and failure marks) of {args.target!r} and its dependents:")
    for name, n in results.items():
        extra = f"  (+{marks[name]} failure mark(s))" if marks.get(name) else ""
        print(f"  {name:<{width}}  {n:>6} result(s){extra}")
    print(f"Total: {sum(results.values())} result(s), {sum(marks.values())} failure mark(s); "
          f"{len(chosen)} task(s) matched")
    if loaded.incomplete:
        print("jug: warning: the jugfile stopped at a barrier; tasks defined after it were not "
              "seen and were not invalidated (run 'jug invalidate' again once past the barrier)",
              file=sys.stderr)
    return 0
