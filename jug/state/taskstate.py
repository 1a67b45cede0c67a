"""The state of every task of a jugfile, from one bulk read of the store.

Used by ``jug status`` (table, ``--short``, ``--json``), ``jug check``, ``webstatus`` and the
HPC resubmit loop.  A task is *finished* (result stored), *failed* (marked failed: the task raised), *running*
(locked by a live worker), *crashed* (locked by a worker that is provably dead: its process is
gone, its batch job left the queue, or its heartbeat stopped), *ready* (every dependency
finished) or *waiting*; duplicates (same hash) count once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Iterable

from ..backends import Store
from ..hash import hash_session
from ..task import Task, TaskLike
from .timings import Durations, format_duration  # noqa: F401 (re-exported)

#: THE order of the counts, everywhere (status table, --short, --json, jug submit, README):
#: the tutorial's columns, then failed, then crashed (shown when there are some)
STATES = ("waiting", "ready", "finished", "running", "failed", "crashed")
#: seconds without a heartbeat after which a lock held on another host counts as crashed
STALE_AFTER = 300.0


def base_dependencies(task: TaskLike) -> list[Task]:
    """The stored Tasks ``task`` needs (Tasklets and NoLoad resolved to their bases), unique."""
    out: list[Task] = []
    seen: set[int] = set()
    for d in task._deps():
        for b in d.base_tasks():
            if id(b) not in seen:
                seen.add(id(b))
                out.append(b)
    return out


def unique_tasks(tasks: Iterable[Task]) -> list[Task]:
    """``tasks`` without repeated hashes (first one kept), hashes computed bottom-up."""
    tasks = list(tasks)
    with hash_session():  # an argument shared by many tasks is scanned once
        hashes = [t.hash() for t in tasks]
    if len(set(hashes)) == len(hashes):  # the usual case: nothing repeated
        return tasks
    seen: set[str] = set()
    out = []
    for t, h in zip(tasks, hashes):
        if h not in seen:
            seen.add(h)
            out.append(t)
    return out


#: what a task NAME may be, wherever one is asked for (the help texts say this; see match_names)
NAME_FORMS = "full name (jugfile.simulate), name without the module (simulate), or a prefix of either (sim)"


def match_names(names: Iterable[str], target: str) -> list[str]:
    """Names matching ``target``, by the most specific rule that matches any name: the full
    name; else the name without its module (``simulate`` for ``jugfile.simulate``, or any
    dotted tail: ``Model.fit``); else a prefix of either (``sim``, ``jugfile.sim``).

    One matcher for ``--target``, ``--only``/``--exclude``, pools and ``jug status
    --traceback``: a name a user may type in one place works the same in all."""
    names = list(names)
    tail = "." + target
    for rule in (lambda n: n == target,
                 lambda n: n.endswith(tail),
                 lambda n: n.startswith(target) or tail in n):
        chosen = [n for n in names if rule(n)]
        if chosen:
            return chosen
    return []


def match_tasks(tasks: Iterable[Task], target: str) -> list[Task]:
    """Tasks named ``target`` (see :func:`match_names`)."""
    tasks = list(tasks)
    chosen = set(match_names({t.name for t in tasks}, target))
    return [t for t in tasks if t.name in chosen]


def dependents_closure(tasks: list[Task], roots: Iterable[Task]) -> list[Task]:
    """``roots`` and every task of ``tasks`` depending on them (also through Tasklets)."""
    tasks = unique_tasks(tasks)
    users: dict[str, list[Task]] = {}
    for t in tasks:
        for d in base_dependencies(t):
            users.setdefault(d.hash(), []).append(t)
    seen: dict[str, Task] = OrderedDict()
    stack = list(roots)
    while stack:
        t = stack.pop()
        h = t.hash()
        if h in seen:
            continue
        seen[h] = t
        stack.extend(users.get(h, ()))
    order = {t.hash(): i for i, t in enumerate(tasks)}
    return sorted(seen.values(), key=lambda t: order.get(t.hash(), -1))


def dependency_closure(tasks: list[Task], roots: Iterable[Task]) -> list[Task]:
    """``roots`` and every task they need, recursively, in the order of ``tasks``."""
    needed: set[str] = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        h = t.hash()
        if h not in needed:
            needed.add(h)
            stack.extend(base_dependencies(t))
    return [t for t in unique_tasks(tasks) if t.hash() in needed]


class Snapshot:
    """Store facts read in bulk: finished hashes, locks (with owners) and failure marks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        finished, self.locks, self.failed = store.read_state()
        self.finished: set[str] = set(finished)
        self.time = time.time()


def dead_locks(locks: dict[str, dict], stale_after: float = STALE_AFTER,
               live_queue_ids: set | None = None) -> dict[str, str]:
    """``{hash: reason}`` for the locks whose owner is provably dead."""
    if not locks:
        return {}
    from .locks import owner_is_dead  # start-up time: psutil, only once a lock is judged

    now = time.time()
    out = {}
    for h, owner in locks.items():
        reason = owner_is_dead(owner, now, stale_after, live_queue_ids)
        if reason:
            out[h] = reason
    return out


def classify(tasks: list[Task], snap: Snapshot, crashed: dict[str, str] | None = None
             ) -> dict[str, str]:
    """``{hash: state}`` for every task (``crashed``: locks judged dead)."""
    crashed = crashed or {}
    return {t.hash(): _state(t, t.hash(), snap, crashed) for t in tasks}


def _state(t: Task, h: str, snap: Snapshot, crashed: dict[str, str]) -> str:
    """The state of task ``t`` (hash ``h``): finished tasks, the vast majority, first."""
    finished = snap.finished
    if h in finished:
        return "finished"
    if h in snap.failed:
        return "failed"
    if h in snap.locks:
        return "crashed" if h in crashed else "running"
    if all(d.hash() in finished for d in base_dependencies(t)):
        return "ready"
    return "waiting"


def _count_states(tasks: list[Task], snap: Snapshot, crashed: dict[str, str]
                  ) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Counts per task name and state in one pass; and the names of locked or failed hashes."""
    per_name: dict[str, dict[str, int]] = OrderedDict()
    wanted = set(snap.locks) | set(snap.failed)
    names: dict[str, str] = {}
    finished = snap.finished
    for t in tasks:
        h = t._hash or t.hash()  # hashed already (unique_tasks): no call per task
        counts = per_name.get(t.name)
        if counts is None:
            counts = per_name[t.name] = dict.fromkeys(STATES, 0)
        if h in wanted:
            names[h] = t.name
        elif h in finished:  # the vast majority, without a call per task
            counts["finished"] += 1
            continue
        counts[_state(t, h, snap, crashed)] += 1
    return per_name, names


def summarize(tasks: list[Task], store: Store, incomplete: bool = False,
              jugfile: str = "", stale_after: float = STALE_AFTER,
              live_queue_ids: set | None = None, verify: bool = False) -> dict[str, Any]:
    """The ``jug status --json`` document: counts per task name and in total, plus locks.

    ``verify``: give finished results the cheap integrity check (jug.state.integrity) and count
    corrupt ones as not finished (``jug status``; a refreshing page skips it).
    """
    # start-up time: a worker (jug execute) never summarizes, so it does not load these
    from .activity import activity, as_json, failure_rows, timing_docs
    from .attempts import retry_rows
    from .deaths import death_rows
    from .integrity import find_damaged
    from .usage import resource_table

    tasks = unique_tasks(tasks)
    snap = Snapshot(store)
    damaged = find_damaged(store, tasks, snap.finished) if verify else []
    snap.finished.difference_update(d.key for d in damaged)  # corrupt: to be recomputed
    crashed = dead_locks(snap.locks, stale_after, live_queue_ids)
    per_name, names = _count_states(tasks, snap, crashed)
    total = {s: sum(c[s] for c in per_name.values()) for s in STATES}
    owners = [{"hash": h, "task": names.get(h), **owner, "dead": crashed.get(h)}
              for h, owner in snap.locks.items()]
    docs = timing_docs(store)
    durations = Durations(docs)
    remaining = {n: c["waiting"] + c["ready"] + c["running"] for n, c in per_name.items()}
    progress = activity(store, docs, total, remaining, snap.locks, snap.time, stale_after)
    return {
        "order": list(STATES),
        "jugfile": jugfile,
        "jugdir": store.description,
        "tasks": per_name,
        "total": total,
        "incomplete": incomplete,
        "locks": {"count": len(snap.locks), "owners": owners},
        "failures": failure_rows(snap.failed, names),
        "retries": retry_rows(store, tasks, snap),
        "corrupt": [{"hash": d.key, "task": d.task, "where": d.where, "reason": d.reason}
                    for d in damaged],
        "durations": {n: d for n, d in durations.as_dict().items() if n in per_name},
        "deaths": death_rows(store, crashed, snap.locks, tasks, snap.finished),
        "resources": {n: r.as_json() for n, r in resource_table(docs).items() if n in per_name},
        "eta_seconds": progress.eta_seconds,
        "progress": as_json(progress),
        "time": snap.time,
    }
