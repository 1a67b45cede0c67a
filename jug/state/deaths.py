"""Why the workers holding dead locks died: their batch jobs' fates, asked in bulk.

A worker killed by the scheduler or the kernel cannot write its exit record; its lock owner
record still names its batch job (:class:`jug.backends.owner.BatchJob`).  For all the dead
owners judged in one pass, each scheduler involved is asked once (its adapter's ``fates``:
``sacct``/``scontrol``, ``qacct``, ``qstat -x``), never once per task.  Outside a batch job,
or where the accounting does not answer, there is no fate: the death stays "unknown" and counts
towards the crash loop as before.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..backends.owner import BatchJob
from ..schedulers import get_scheduler
from ..schedulers.base import SchedulerError
from ..schedulers.fate import Cause, Fate
from .crashloop import NAMESPACE


def fates_of(owners: Mapping[str, Mapping | None]) -> dict[str, Fate]:
    """``{key: Fate}`` for the owners (by lock key) whose batch job's end the scheduler
    explains; a job that the accounting shows as completed is left out (no news)."""
    by_scheduler: dict[str, dict[str, list[str]]] = {}
    for key, owner in owners.items():
        job = BatchJob.of(owner)
        if job is not None and job.scheduler and job.queue_id:
            by_scheduler.setdefault(job.scheduler, {}).setdefault(job.queue_id, []).append(key)
    out: dict[str, Fate] = {}
    for name, keys_of in by_scheduler.items():
        try:
            sched = get_scheduler(name)
        except SchedulerError:
            continue  # a record of a scheduler this jug does not know
        for queue_id, fate in sched.fates(keys_of).items():
            if fate.cause is not Cause.COMPLETED:
                out.update(dict.fromkeys(keys_of[queue_id], fate))
    return out


def death_rows(store: Any, crashed: Mapping[str, str], locks: Mapping[str, Any],
               tasks: Iterable[Any], finished: set) -> list[dict[str, Any]]:
    """What ``jug status`` says of tasks whose worker died while running them: those whose
    dead lock awaits reclaiming (asked of the scheduler now, one query) and unfinished ones
    whose lock was reclaimed (the crash record says why it died)."""
    try:
        docs = store.read_docs(NAMESPACE)
    except Exception:
        docs = {}
    if not crashed and not docs:
        return []
    names = {t.hash(): t.name for t in tasks}
    rows = []
    fates = fates_of({h: locks.get(h) for h in crashed}) if crashed else {}
    for h, reason in crashed.items():
        fate = fates.get(h)
        rows.append(_row(h, names.get(h), "awaits reclaiming", reason, fate))
    for h, doc in docs.items():
        if h in crashed or h in finished or h not in names or not doc.get("events"):
            continue
        last = doc["events"][-1]
        fate = Fate.from_json(last.get("fate") or {})
        row = _row(h, names[h], "reclaimed", str(last.get("reason", "")), fate)
        row.update(counted=int(doc.get("count", 0)), not_counted=int(doc.get("not_counted", 0)))
        walltimes = sum(1 for e in doc["events"]
                        if (e.get("fate") or {}).get("cause") == Cause.WALLTIME.value)
        if walltimes >= 2:  # its typical run exceeds the budget: retrying there is futile
            row["why"] = f"does not fit the walltime (stopped by it {walltimes} times)"
        rows.append(row)
    return rows


def _row(h: str, task: str | None, where: str, reason: str, fate: Fate | None) -> dict:
    return {"hash": h, "task": task, "lock": where, "reason": reason,
            "why": fate.describe() if fate else "unknown (no scheduler accounting)",
            "fate": fate.as_json() if fate else None,
            "task_could_cause": fate.cause.could_be_the_task if fate else True}
