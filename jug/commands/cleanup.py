"""``jug cleanup``: remove what the current jugfile no longer needs, and dead workers' locks.

* plain: results and failure marks of tasks the jugfile no longer defines, plus every lock
  whose owner is not known to be alive.  Refused while the jugfile stops at a barrier: the
  tasks after it are unknown, and their results must not be mistaken for garbage.
* ``--locks-only``: only locks (every lock except those of live workers).
* ``--failed-only``: only failure marks, so that the failed tasks run again.
* ``--stale``: only locks whose owner is provably dead (see :mod:`jug.state.locks`).

A lock is never removed while its owner is known to be alive: a process that still runs on
this host, or one whose heartbeat is younger than ``--stale-after`` seconds.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..backends import Store
from ..backends.owner import owner_summary
from ..config.options import Option, finite_seconds
from ..state.crashloop import forget
from ..state.locks import LockVerdict, judge
from ..state.taskstate import STALE_AFTER
from ._common import CommandError, open_and_load, open_store_or_fail, report

HELP = "Remove results no longer referenced by the jugfile, dead workers' locks, failure marks"
TAKES_JUGFILE = True
OPTIONS = [
    Option("locks-only", False, "Only remove locks (never those of live workers)", flag=True),
    Option("failed-only", False, "Only remove failure marks, so that failed tasks run again",
           flag=True),
    Option("stale", False, "Only remove locks whose owner is provably dead (process gone on "
           "this host, or no heartbeat for --stale-after seconds)", flag=True),
    Option("stale-after", STALE_AFTER, "Seconds without heartbeat after which a worker on another "
           "host counts as dead", type=finite_seconds, metavar="SECONDS"),
    Option("dry-run", False, "Only print what would be removed", flag=True),
]

#: a lock whose owner cannot be read may be being written: look again after this long (s)
_RECHECK_DELAY = 0.5


def run(args: Any) -> int:
    """Dispatch to the chosen cleanup mode."""
    modes = [m for m in ("locks_only", "failed_only", "stale") if getattr(args, m)]
    if len(modes) > 1:
        flags = " and ".join("--" + m.replace("_", "-") for m in modes)
        return report(CommandError(f"choose one of --locks-only, --failed-only, --stale "
                                   f"(got {flags})", 2))
    try:
        if args.failed_only:
            return _failed_only(args)
        if args.locks_only or args.stale:
            store = open_store_or_fail(args)
            _clean_locks(store, args, strict=bool(args.stale))
            return 0
        return _full(args)
    except CommandError as e:
        return report(e)


def _verb(args: Any) -> str:
    return "Would remove" if args.dry_run else "Removed"


def _failed_only(args: Any) -> int:
    store = open_store_or_fail(args)
    marks = store.list_failed()
    for key in marks:
        if not args.dry_run:
            store.clear_failed(key)
    if not args.dry_run:
        forget(store, list(marks))  # a crash loop's count starts again
    names = sorted({str(info.get("task", "?")) for info in marks.values()})
    print(f"{_verb(args)} {len(marks)} failure mark(s)" + (f": {', '.join(names)}" if names else ""))
    return 0


def _verdicts(store: Store, stale_after: float) -> list[LockVerdict]:
    """Judge every lock; unreadable owners are read again after a short delay."""
    now = time.time()
    verdicts = judge(store.list_locks(), now, stale_after)
    unknown = [v for v in verdicts if not v.owner or not v.owner.get("host")]
    if unknown:
        time.sleep(_RECHECK_DELAY)  # a lock being created has no owner for an instant
        again = {v.key: store.lock_owner(v.key) for v in unknown}
        fresh = {k: o for k, o in again.items() if o is not None}
        rejudged = {v.key: v for v in judge(fresh, time.time(), stale_after)}
        verdicts = [rejudged.get(v.key, v) for v in verdicts
                    if v not in unknown or v.key in fresh]
    return verdicts


def _clean_locks(store: Store, args: Any, strict: bool) -> tuple[int, int]:
    """Remove removable locks; print what was removed and what was kept. (removed, kept)."""
    removed = kept = 0
    for v in _verdicts(store, float(args.stale_after)):
        who = owner_summary(v.owner)
        if v.removable(strict):
            if not args.dry_run and not store.reclaim(v.key, v.owner):
                print(f"Kept lock {v.key[:12]}: it changed hands while cleaning up")
                kept += 1
                continue
            why = v.dead or "owner not known to be alive"
            print(f"{_verb(args)} lock {v.key[:12]} of {who}: {why}")
            removed += 1
        else:
            why = v.alive or "owner may still be alive"
            print(f"Kept lock {v.key[:12]} of {who}: {why}")
            kept += 1
    rule = ("owner provably dead" if strict else "owner not known to be alive")
    print(f"{_verb(args)} {removed} lock(s) ({rule}), kept {kept}")
    return removed, kept


def _full(args: Any) -> int:
    store, loaded = open_and_load(args)
    if loaded.incomplete:
        raise CommandError(
            "refusing to clean up: the jugfile stops at a barrier, so the tasks defined after "
            "it are not known and their results would look unreferenced. Run 'jug execute' "
            "until every barrier is passed (see 'jug status'), or use --locks-only, "
            "--failed-only or --stale, which do not need the full task list.")
    referenced = {t.hash() for t in loaded.tasks}
    stored = [k for k in store.list() if k not in referenced]
    for key in stored:
        if not args.dry_run:
            store.remove(key)
    marks = [k for k in store.list_failed() if k not in referenced]
    for key in marks:
        if not args.dry_run:
            store.clear_failed(key)
    print(f"{_verb(args)} {len(stored)} unreferenced result(s) and {len(marks)} failure "
          f"mark(s) of tasks no longer in {loaded.path}")
    _clean_locks(store, args, strict=False)
    if not args.dry_run:
        n = store.remove_stale_temporaries()
        if n:
            print(f"Removed {n} temporary file(s) left by killed writers")
    if args.verbose != "quiet":
        print(f"{len(referenced)} result(s) referenced by the jugfile were kept", file=sys.stderr)
    return 0
