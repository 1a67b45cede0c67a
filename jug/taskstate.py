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

from .backends import Store
from .backends.owner import owner_summary
from .task import Task, TaskLike
from .timings import Durations, eta_seconds

STATES = ("waiting", "ready", "running", "finished", "failed", "crashed")
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
    seen: set[str] = set()
    out = []
    for t in tasks:
        h = t.hash()
        if h not in seen:
            seen.add(h)
            out.append(t)
    return out


def match_tasks(tasks: Iterable[Task], target: str) -> list[Task]:
    """Tasks named ``target``: exact name, else ``.target`` suffix, else prefix (most specific)."""
    tasks = list(tasks)
    for rule in (lambda n: n == target,
                 lambda n: n.endswith("." + target),
                 lambda n: n.startswith(target)):
        chosen = [t for t in tasks if rule(t.name)]
        if chosen:
            return chosen
    return []


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
    from .locks import owner_is_dead

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
    for t in tasks:
        h = t.hash()
        counts = per_name.get(t.name)
        if counts is None:
            counts = per_name[t.name] = dict.fromkeys(STATES, 0)
        counts[_state(t, h, snap, crashed)] += 1
        if h in wanted:
            names[h] = t.name
    return per_name, names


def summarize(tasks: list[Task], store: Store, incomplete: bool = False,
              jugfile: str = "", stale_after: float = STALE_AFTER,
              live_queue_ids: set | None = None) -> dict[str, Any]:
    """The ``jug status --json`` document: counts per task name and in total, plus locks."""
    tasks = unique_tasks(tasks)
    snap = Snapshot(store)
    crashed = dead_locks(snap.locks, stale_after, live_queue_ids)
    per_name, names = _count_states(tasks, snap, crashed)
    total = {s: sum(c[s] for c in per_name.values()) for s in STATES}
    owners = [{"hash": h, "task": names.get(h), **owner, "dead": crashed.get(h)}
              for h, owner in snap.locks.items()]
    failures = [{"hash": h, "task": names.get(h, info.get("task")), "error": info.get("error")}
                for h, info in snap.failed.items()]
    durations = Durations.from_store(store)
    remaining = {n: c["waiting"] + c["ready"] + c["running"] for n, c in per_name.items()}
    workers = len({(o.get("host"), o.get("pid")) for o in snap.locks.values()})
    return {
        "jugfile": jugfile,
        "jugdir": store.description,
        "tasks": per_name,
        "total": total,
        "incomplete": incomplete,
        "locks": {"count": len(snap.locks), "owners": owners},
        "failures": failures,
        "durations": {n: d for n, d in durations.as_dict().items() if n in per_name},
        "eta_seconds": eta_seconds(remaining, durations, workers),
        "time": snap.time,
    }


def format_table(summary: dict[str, Any]) -> str:
    """The status table: one row per task name, then the totals."""
    cols = ("Waiting", "Ready", "Finished", "Running", "Failed")  # the tutorial's order
    if summary["total"].get("crashed"):
        cols = (*cols, "Crashed")
    names = list(summary["tasks"])
    width = max([len("Task name"), *(len(n) for n in names)]) + 2
    header = f"{'Task name':<{width}}" + "".join(f"{c:>11}" for c in cols)
    lines = [header, "-" * len(header)]
    for name, counts in summary["tasks"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{counts[c.lower()]:>11}" for c in cols))
    lines.append("." * len(header))
    tot = summary["total"]
    lines.append(f"{'Total:':<{width}}" + "".join(f"{tot[c.lower()]:>11}" for c in cols))
    if summary.get("incomplete"):
        lines.append("")
        lines.append("The jugfile stopped at a barrier: more tasks may follow once these finish.")
    eta = summary.get("eta_seconds")
    left = sum(tot[k] for k in ("waiting", "ready", "running"))
    if eta is not None and left:
        n = max(len({(o.get("host"), o.get("pid")) for o in summary["locks"]["owners"]}), 1)
        lines.append(f"ETA: about {format_duration(eta)} with {n} worker(s) "
                     "(from recorded run times)")
    owners = summary["locks"]["owners"]
    dead = [o for o in owners if o.get("dead")]
    if dead:
        lines.append("")
        lines.append(f"{len(dead)} task(s) crashed (lock owner dead; 'jug cleanup --stale' or the "
                     "next worker reclaims them): "
                     + "; ".join(f"{o.get('task')}: {o['dead']}" for o in dead[:5]))
    if owners:
        lines.append("")
        lines.append(f"{len(owners)} task(s) locked by: "
                     + ", ".join(sorted({owner_summary(o) for o in owners})))
    return "\n".join(lines)


def format_duration(seconds: float) -> str:
    """``3h05m``, ``4m10s`` or ``12s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def format_short(summary: dict[str, Any]) -> str:
    """One line: totals per state (``--short``)."""
    tot = summary["total"]
    n = sum(tot.values())
    text = (f"{n} tasks: {tot['finished']} finished, {tot['running']} running, "
            f"{tot['ready']} ready, {tot['waiting']} waiting, {tot['failed']} failed")
    if tot.get("crashed"):
        text += f", {tot['crashed']} crashed"
    if summary.get("incomplete"):
        text += " (stopped at a barrier: more may follow)"
    return text
