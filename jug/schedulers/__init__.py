"""Scheduler adapters for ``jug submit``: one small module of facts per batch system.

The interface a resubmit loop needs (all in :class:`Scheduler`, see ``base.py``):

* ``get_scheduler(name, settings)`` -> adapter; ``detect()`` -> name found on PATH;
* ``query(job_ids)`` -> ``{job_id: ArrayCounts(pending, running, entries)}`` from ONE queue
  call for every array (``squeue -u``, ``qstat -u -xml``, ``qstat -t -u``, ``bjobs -json``,
  ``condor_q -json``; never per element, never ``sacct``); jobs that left the queue count
  zero;
* ``set_throttle(job_id, n)`` (False where the scheduler cannot), ``cancel(job_ids)``,
  ``cancel_pending(job_id, counts)``; ``max_array_size()`` and ``split(n)``;
* ``element_id(array_id, index)`` matches the ``queue_id`` lock owners record.

The orchestration above these adapters lives in :mod:`jug.hpc`; :class:`jug.hpc.job.JobPlan` renders and submits arrays and records them in the store
(``submitted_arrays`` / ``cancel_arrays`` read and clear those records).
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import (  # noqa: F401  (re-exported)
    DONE,
    PENDING,
    RUNNING,
    ArrayCounts,
    CommandFailed,
    QueueEntry,
    Scheduler,
    SchedulerError,
)


def adapter_classes() -> dict[str, type[Scheduler]]:
    """The adapter classes by name (imported on first use): the registry every list of
    schedulers derives from."""
    from .htcondor import HTCondor  # start-up time: each adapter loads on first use
    from .lsf import LSF  # start-up time: each adapter loads on first use
    from .pbs import PBS, Torque  # start-up time: each adapter loads on first use
    from .sge import SGE  # start-up time: each adapter loads on first use
    from .slurm import Slurm  # start-up time: each adapter loads on first use

    return {"slurm": Slurm, "pbs": PBS, "torque": Torque, "sge": SGE, "lsf": LSF,
            "htcondor": HTCondor}


NAMES = ("slurm", "pbs", "torque", "sge", "lsf", "htcondor")
#: other names users write for an adapter
ALIASES = {"pbspro": "pbs", "openpbs": "pbs", "condor": "htcondor", "spectrum-lsf": "lsf"}


def get_scheduler(name: str, settings: Mapping[str, Any] | None = None) -> Scheduler:
    """The adapter called ``name``, configured with profile ``settings``."""
    classes = adapter_classes()
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in classes:
        raise SchedulerError(f"unknown scheduler '{name}': choose one of {', '.join(NAMES)}")
    return classes[key](settings)


def from_environment(env: Mapping[str, str]) -> dict | None:
    """The batch job described by ``env`` (the first adapter that recognises it), or None.

    SLURM first, then PBS (Torque's variables are recognised by PBS), LSF, HTCondor, then
    SGE, whose ``JOB_ID`` other systems set too."""
    classes = adapter_classes()
    for key in ("slurm", "pbs", "lsf", "htcondor", "sge"):
        job = classes[key].from_environment(env)
        if job is not None:
            return job
    return None


def detect() -> str | None:
    """The scheduler whose commands are on PATH (SLURM first, then SGE, Torque, PBS, LSF,
    HTCondor)."""
    classes = adapter_classes()
    for key in ("slurm", "sge", "torque", "pbs", "lsf", "htcondor"):
        if classes[key].detect():
            return key
    return None
