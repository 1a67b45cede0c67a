"""Why the workers holding dead locks died: their batch jobs' fates, asked in bulk.

A worker killed by the scheduler or the kernel cannot write its exit record; its lock owner
record still names its batch job (:class:`jug.backends.owner.BatchJob`).  For all the dead
owners judged in one pass, each scheduler involved is asked once (its adapter's ``fates``:
``sacct``/``scontrol``, ``qacct``, ``qstat -x``), never once per task.  Outside a batch job,
or where the accounting does not answer, there is no fate: the death stays "unknown" and counts
towards the crash loop as before.
"""

from __future__ import annotations

from typing import Mapping

from ..backends.owner import BatchJob
from ..schedulers import get_scheduler
from ..schedulers.base import SchedulerError
from ..schedulers.fate import Cause, Fate


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
