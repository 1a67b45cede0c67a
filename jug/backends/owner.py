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
    return {"host": HOST, "pid": _me[0], "started": _me[2], "locked_at": now,
            "heartbeat": now, "job": _BATCH}


#: this process's pid, the start of its lock records and its start time, made again in a
#: forked child (whose process starts then: a parent's start time would make a live child
#: look like a reused pid): a worker takes thousands of locks, and asking the kernel for its
#: pid each time was two system calls per task
_me: list = []
#: bumped in every forked child: per-process state kept elsewhere (the file store's record of
#: the locks it took) compares it to know whether it was made in this process
fork_generation = [0]


def _remember_pid(forked: bool = False) -> None:
    pid = os.getpid()
    start = time.time()
    signature = f'{{"host": {json.dumps(HOST)}, "pid": {pid}, '.encode()
    _me[:] = [pid, signature, start, signature + b'"started": %r, ' % start]
    if forked:
        fork_generation[0] += 1


_remember_pid()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _remember_pid(forked=True))


def process_start() -> float:
    """When this process started, as its lock records say (``started``)."""
    return _me[2]


def my_pid() -> int:
    """This process's pid, without a system call."""
    return _me[0]


def lock_signature() -> bytes:
    """How every lock record this process writes begins (host and pid, JSON)."""
    return _me[1]


def lock_body() -> bytes:
    """The JSON lock record of this process, now (:func:`current_owner`, serialised fast:
    the time once, to the millisecond; the shortest repr of a float costs more than the
    system calls that take the lock)."""
    now = b"%.3f" % time.time()
    return b'%s"locked_at": %s, "heartbeat": %s, "job": %s}' % (_me[3], now, now, _BATCH_JSON)


def is_current(owner: Mapping) -> bool:
    """True if lock owner record ``owner`` is this process."""
    return owner.get("pid") == _me[0] and owner.get("host") == HOST


def owner_summary(owner: Mapping | None) -> str:
    """One human line for a lock owner: ``host:pid (slurm 123_4)``."""
    if not owner:
        return "unknown owner"
    text = f"{owner.get('host', '?')}:{owner.get('pid', '?')}"
    job = BatchJob.of(owner) if owner.get("job") else None
    if job:
        text += f" ({job.describe()})"
    return text
