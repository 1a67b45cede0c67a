"""Who holds a lock: host, pid, start time and the batch job this process runs in.

The HPC toolkit reads these records to tell a live worker from a dead one (same host and pid
gone, batch job no longer queued, or heartbeat too old) before it reclaims a lock.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Mapping

#: this machine's name (what socket.gethostname() returns on POSIX, without importing socket)
HOST = os.uname().nodename

#: the ``job_id_var`` of every scheduler adapter (a test keeps them equal): a cheap gate
JOB_ID_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "JOB_ID", "LSB_JOBID", "HTCONDOR_JOBID")


def batch_job(environ: Mapping[str, str] | None = None) -> dict | None:
    """Describe the batch job this process runs in, or None outside a batch system.

    Returns ``{"scheduler", "job_id", "array_job_id", "array_task_id", "queue_id"}``;
    ``queue_id`` is the id under which the scheduler's queue listing shows this worker.
    Each scheduler adapter reads its own variables (``from_environment``), so the format
    stays in step with the adapter's ``element_id``.
    """
    env = os.environ if environ is None else environ
    if not any(name in env for name in JOB_ID_VARS):
        return None  # not in a batch job: the adapters are not even imported (start-up time)
    # start-up time: the adapters load only inside a batch job
    from ..schedulers import from_environment

    return from_environment(env)


@dataclass(frozen=True)
class BatchJob:
    """The batch job of a lock owner record (``owner["job"]``, written by :func:`batch_job`),
    read in this one place by everything that judges or describes an owner."""

    scheduler: str
    job_id: str
    array_job_id: str | None
    array_task_id: str | None
    queue_id: str

    @classmethod
    def of(cls, owner: Mapping | None) -> BatchJob | None:
        """The batch job recorded in ``owner``, or None (not in a batch job, or no record)."""
        job = owner.get("job") if isinstance(owner, Mapping) else None
        if not isinstance(job, Mapping):
            return None

        def text(key: str) -> str | None:
            value = job.get(key)
            return None if value in (None, "") else str(value)

        return cls(text("scheduler") or "", text("job_id") or "", text("array_job_id"),
                   text("array_task_id"), text("queue_id") or "")

    @property
    def ids(self) -> list[str]:
        """The ids under which the queue may list this job (element id first)."""
        return [i for i in (self.queue_id, self.job_id) if i]

    @property
    def array_head(self) -> str | None:
        """The number of the array (or job): ``1234`` of ``1234[].server`` or ``1234_7``."""
        m = re.match(r"\d+", self.array_job_id or self.job_id)
        return m.group(0) if m else None

    def describe(self) -> str:
        """``slurm 123_4`` for messages."""
        return f"{self.scheduler or None} {self.queue_id or None}"


_PROCESS_START = time.time()
_BATCH = batch_job()
_BATCH_JSON = json.dumps(_BATCH).encode()


def after_fork() -> None:
    """Called first in a forked worker (``jug execute -j``): its lock records must carry its
    own start time, since a record older than the process with that pid reads as a reused pid
    (a sibling would then reclaim a live worker's lock)."""
    global _PROCESS_START
    _PROCESS_START = time.time()


def current_owner() -> dict:
    """The lock owner record of this process (a fresh dict each call)."""
    now = time.time()
    return {"host": HOST, "pid": os.getpid(), "started": _PROCESS_START, "locked_at": now,
            "heartbeat": now, "job": _BATCH}


_signature: list = [None, b""]  # [pid, signature]: made once per process (a fork re-makes it)


def lock_signature() -> bytes:
    """How every lock record this process writes begins (host and pid, JSON)."""
    pid = os.getpid()
    if _signature[0] != pid:
        _signature[:] = [pid, f'{{"host": {json.dumps(HOST)}, "pid": {pid}, '.encode()]
    return _signature[1]


def lock_body() -> bytes:
    """The JSON lock record of this process, now (:func:`current_owner`, serialised fast)."""
    now = time.time()
    return b'%s"started": %r, "locked_at": %r, "heartbeat": %r, "job": %s}' % (
        lock_signature(), _PROCESS_START, now, now, _BATCH_JSON)


def is_current(owner: Mapping) -> bool:
    """True if lock owner record ``owner`` is this process."""
    return owner.get("pid") == os.getpid() and owner.get("host") == HOST


def owner_summary(owner: Mapping | None) -> str:
    """One human line for a lock owner: ``host:pid (slurm 123_4)``."""
    if not owner:
        return "unknown owner"
    text = f"{owner.get('host', '?')}:{owner.get('pid', '?')}"
    job = BatchJob.of(owner) if owner.get("job") else None
    if job:
        text += f" ({job.describe()})"
    return text
