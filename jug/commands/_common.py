"""Helpers shared by shell, check, sleep-until, invalidate, cleanup, webstatus and graph."""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any, Iterable

from ..backends import Store, StoreError
from ..jugfile import JugfileError, Loaded, load, open_store
from ..state.attempts import forget as forget_attempts
from ..state.crashloop import forget as forget_crashes
from ..state.invalidations import record as record_invalidation
from ..state.taskstate import dependents_closure, match_tasks  # noqa: F401 (used by commands)
from ..task import Task


class CommandError(Exception):
    """A user-facing error: printed as ``jug: <message>``, exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def open_and_load(args: Any) -> tuple[Store, Loaded]:
    """Open the store of ``args`` and load the jugfile; CommandError if either fails."""
    store = open_store_or_fail(args)
    try:
        loaded = load(args.jugfile, store, getattr(args, "jugfile_args", None))
    except JugfileError as e:
        raise CommandError(str(e)) from None
    except StoreError as e:
        raise CommandError(str(e), 2) from None
    return store, loaded


def open_store_or_fail(args: Any) -> Store:
    """The store of ``args`` (``--jugdir`` or beside the jugfile); CommandError if unusable."""
    try:
        return open_store(args.jugfile, args.jugdir)
    except StoreError as e:
        raise CommandError(str(e), 2) from None


def report(e: CommandError) -> int:
    """Print ``e`` on stderr and return its exit code."""
    print(f"jug: {e}", file=sys.stderr)
    return e.code


def known_names(tasks: Iterable[Task]) -> list[str]:
    """The distinct task names of ``tasks``, sorted."""
    return sorted({t.name for t in tasks})


def invalidate_tasks(store: Store, tasks: list[Task], dry_run: bool = False,
                     jugfile: str | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Remove results and failure marks of ``tasks``: ``({name: results}, {name: marks})``.

    With ``jugfile``, the removal is recorded (:mod:`jug.state.invalidations`), so that the
    allocation report counts computing these results again as recomputes, not reruns."""
    results: dict[str, int] = OrderedDict()
    marks: dict[str, int] = OrderedDict()
    finished = set(store.list())
    failed = store.list_failed()
    for t in tasks:
        h = t.hash()
        results.setdefault(t.name, 0)
        t.unload()
        if h in finished:
            if dry_run or store.remove(h):
                results[t.name] += 1
        if h in failed:
            if dry_run or store.clear_failed(h):
                marks[t.name] = marks.get(t.name, 0) + 1
            if not dry_run:
                forget_crashes(store, [h])  # a crash loop's count starts again
    if not dry_run:
        forget_attempts(store, [t.hash() for t in tasks])  # --retries count anew
    if jugfile and not dry_run:
        record_invalidation(store, jugfile, results)
    return results, marks
