"""``jug cleanup``: remove what the current jugfile no longer needs, and dead workers' locks.

* plain: results and failure marks of tasks the jugfile no longer defines, plus every lock
  whose owner is not known to be alive.  Refused while the jugfile stops at a barrier: the
  tasks after it are unknown, and their results must not be mistaken for garbage.
* ``--locks-only``: only locks (every lock except those of live workers).
* ``--failed-only``: only failure marks, so that the failed tasks run again.
* ``--stale``: only locks whose owner is provably dead (see :mod:`jug.state.locks`).

Plain cleanup also removes the records that no longer matter: worker records (and
``jug invalidate`` records) of this jugfile whose worker left before ``--records-older-than``
(default 7 days; ``never`` keeps them).  A worker still alive, or one of a running
``--until-done`` chain, keeps its record whatever its age: ``jug status`` counts live
workers from them and ``jug submit --report --chain`` accounts for the chain's.
``--dry-run`` lists what would go: failure marks per task name, results by hash (a result
does not record its task's name), worker records one per worker.

A lock is never removed while its owner is known to be alive: a process that still runs on
this host, or one whose heartbeat is younger than ``--stale-after`` seconds.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

from ..backends import Store
from ..backends.owner import owner_summary
from ..config.options import Option, finite_seconds
from ..state import invalidations
from ..state.activity import timing_docs
from ..state.attempts import NAMESPACE as ATTEMPTS
from ..state.attempts import forget as forget_attempts
from ..state.crashloop import forget
from ..state.locks import LockVerdict, judge
from ..state.shifts import NAMESPACE as WORKERS
from ..state.shifts import live_workers, read_records
from ..state.taskstate import STALE_AFTER
from ..status.progress import plural
from ._common import CommandError, open_and_load, open_store_or_fail, report

HELP = ("Remove results no longer referenced by the jugfile, dead workers' locks, failure "
        "marks, old worker records")
#: worker records older than this go with a plain cleanup (``--records-older-than``)
RECORDS_OLDER_THAN = "7d"
#: names listed per kind before "... and N more"
_LISTED = 20
TAKES_JUGFILE = True
OPTIONS = [
    Option("locks-only", False, "Only remove locks (never those of live workers)", flag=True),
    Option("failed-only", False, "Only remove failure marks, so that failed tasks run again",
           flag=True),
    Option("stale", False, "Only remove locks whose owner is provably dead (process gone on "
           "this host, or no heartbeat for --stale-after seconds)", flag=True),
    Option("stale-after", STALE_AFTER, "Seconds without heartbeat after which a worker on another "
           "host counts as dead", type=finite_seconds, metavar="SECONDS"),
    Option("records-older-than", RECORDS_OLDER_THAN, "Plain cleanup: also remove the records "
           "of workers (and of jug invalidate) that left before WHEN: a duration back from now "
           "(7d, 12h) or an ISO date; 'never' keeps them. Live workers and a running chain's "
           "keep theirs", metavar="WHEN"),
    Option("dry-run", False, "Only print what would be removed (names, not only counts)",
           flag=True),
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
        forget_attempts(store, list(marks))  # and so do the attempts of --retries
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
    cutoff = _records_cutoff(args)  # a bad --records-older-than before anything is removed
    referenced = {t.hash() for t in loaded.tasks}
    stored = [k for k in store.list() if k not in referenced]
    for key in stored:
        if not args.dry_run:
            store.remove(key)
    failed = store.list_failed()
    marks = [k for k in failed if k not in referenced]
    for key in marks:
        if not args.dry_run:
            store.clear_failed(key)
    if not args.dry_run:
        forget_attempts(store, [k for k in store.read_docs(ATTEMPTS) if k not in referenced])
    print(f"{_verb(args)} {len(stored)} unreferenced result(s) and {len(marks)} failure "
          f"mark(s) of tasks no longer in {loaded.path}")
    _list_removed(stored, {k: failed[k] for k in marks})
    _clean_locks(store, args, strict=False)
    if cutoff is not None:
        _clean_records(store, args, loaded.path, cutoff)
    if not args.dry_run:
        n = store.remove_stale_temporaries()
        if n:
            print(f"Removed {n} temporary file(s) left by killed writers")
    if args.verbose != "quiet":
        print(f"{len(referenced)} result(s) referenced by the jugfile were kept", file=sys.stderr)
    return 0


def _listed(items: list[str]) -> list[str]:
    """At most :data:`_LISTED` lines of ``items``, then how many more."""
    more = [f"  ... and {len(items) - _LISTED} more"] if len(items) > _LISTED else []
    return [f"  {x}" for x in items[:_LISTED]] + more


def _list_removed(results: list[str], marks: dict[str, Any]) -> None:
    """Failure marks per task name (as ``jug invalidate --dry-run`` lists), results by hash."""
    per_name: dict[str, int] = {}
    for info in marks.values():
        name = str((info if isinstance(info, dict) else {}).get("task") or "(no task name)")
        per_name[name] = per_name.get(name, 0) + 1
    if per_name:
        width = max(len(n) for n in per_name)
        print("  failure marks per task name:")
        for name, n in sorted(per_name.items()):
            print(f"    {name:<{width}}  {n:>6} failure mark(s)")
    if results:
        print("  results (a result does not record its task's name; hash prefixes):")
        for line in _listed(sorted(k[:12] for k in results)):
            print("  " + line)


def _records_cutoff(args: Any) -> float | None:
    """The time before which worker records go (None: ``never``); CommandError if bad."""
    from ..hpc.report import ScopeError, parse_since  # the HPC toolkit: start-up time

    raw = str(getattr(args, "records_older_than", None) or RECORDS_OLDER_THAN).strip()
    if raw.lower() == "never":
        return None
    try:
        return parse_since(raw, time.time())
    except ScopeError:
        raise CommandError(f"--records-older-than {raw}: give a duration back from now (7d, "
                           f"12h), an ISO date (2026-12-01), or 'never'", 2) from None


def _clean_records(store: Store, args: Any, jugfile: str, cutoff: float) -> None:
    """Remove the worker and invalidation records of ``jugfile`` older than ``cutoff``."""
    old = old_records(store, jugfile, cutoff, float(args.stale_after))
    for rec in old:
        if not args.dry_run:
            store.remove_doc(WORKERS, rec.name)
    gone = invalidations.prune(store, jugfile, cutoff, dry_run=args.dry_run)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(cutoff))
    extra = f" and {gone} invalidation record(s)" if gone else ""
    print(f"{_verb(args)} {len(old)} worker record(s){extra} of workers that left before "
          f"{stamp} (--records-older-than {args.records_older_than or RECORDS_OLDER_THAN})")
    for line in _listed([_describe(r) for r in old]):
        print(line)


def _describe(rec: Any) -> str:
    """``node1:101 (slurm 77_1): left 2026-11-20 10:00, budget, 12 tasks`` (one record)."""
    who = owner_summary({"host": rec.host, "pid": rec.pid, "job": rec.job})
    if rec.ended is None:
        return f"{who}: started {_when(rec.started)}, never recorded its exit (not alive)"
    return f"{who}: left {_when(rec.ended)}, {rec.reason}, {plural(rec.tasks, 'task')}"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def old_records(store: Store, jugfile: str, cutoff: float, stale_after: float) -> list[Any]:
    """The worker records of ``jugfile`` that no longer matter: the worker left (or, never
    having written its exit, is not alive) before ``cutoff``, and it is not one of a running
    chain's workers."""
    target = os.path.abspath(jugfile)
    keep = _running_chain_arrays(store, jugfile)
    old = [r for r in read_records(store) if r.jugfile == target
           and (r.ended if r.ended is not None else r.started) < cutoff
           and _array_of(r) not in keep]
    unended = [r for r in old if r.ended is None]
    if unended:
        beats = {n: float(d.get("time") or 0) for n, d in timing_docs(store).items()
                 if isinstance(d, dict)}
        alive = {r.name for r in live_workers(unended, store.list_locks(), beats, stale_after)}
        old = [r for r in old if r.name not in alive]
    return old


def _array_of(rec: Any) -> str:
    """The short job id of the array a worker ran in ("" outside an array)."""
    m = re.match(r"\d+", str((rec.job or {}).get("array_job_id") or ""))
    return m.group(0) if m else ""


def _running_chain_arrays(store: Store, jugfile: str) -> set[str]:
    """Short job ids of the arrays of the chain recorded for ``jugfile``, if it runs."""
    from ..hpc.chain.records import RUNNING, Chain, short_id  # the HPC toolkit: start-up time

    chain = Chain.load(store, jugfile)
    if chain is None or chain.status != RUNNING:
        return set()
    return {short_id(a) for a in chain.arrays()}
