"""``python -m jug.hpc.chain``: the entry point of a planner job and of a worker's hand-over
(one :func:`~jug.hpc.chain.planning.plan_once`); job scripts call it by this module path.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ...backends import StoreError, select_store
from ...backends.owner import BatchJob, current_owner, owner_summary
from ...schedulers.base import SchedulerError
from ..job import SubmitError
from .lock import LOCK_WAIT, NO_WORK_WAIT
from .planning import plan_once
from .records import Chain, Trigger, short_id

#: when this process started: a planner job's walltime counts from here
_STARTED = time.time()
#: seconds of a planner job's walltime kept for re-arming a planner and writing the record
PLANNER_RESERVE = 60.0


def _who() -> tuple[str, tuple[str, str] | None]:
    """(description, (array short id, index)) of this process for the chain record."""
    me = current_owner()
    job = BatchJob.of(me)
    array = job and (job.array_job_id or job.job_id)
    where = (short_id(array), job.array_task_id or "") if job and array else None
    return owner_summary(me), where


def _caller(a: Any, chain: Chain | None) -> dict[str, Any]:
    """The :func:`plan_once` arguments of a hand-over or a planner job."""
    who, where = _who()
    if not a.handover and a.no_work is None:
        deadline = _STARTED + max(0.0, (a.walltime or 0) - PLANNER_RESERVE)
        return {"after": a.generation, "by": f"planner job {who}", "wait": LOCK_WAIT,
                "trigger": Trigger.PLANNER, "deadline": deadline}
    after = chain.generation_of(where[0]) if chain and where else None
    if a.handover:
        return {"after": after, "by": f"worker {who}", "wait": 0.0,
                "trigger": Trigger.BUDGET, "leaver": where, "deadline": a.deadline,
                "started": a.started}
    return {"after": after, "by": f"worker {who} (no work left)", "wait": NO_WORK_WAIT,
            "trigger": Trigger.NO_WORK, "leaver": where, "since": a.no_work,
            "deadline": a.deadline}


def main(argv: list[str] | None = None) -> int:
    """``python -m jug.hpc.chain --jugdir D (--handover | --no-work T | --generation N
    --walltime S) [--deadline T] JUGFILE`` (``T``: seconds since the epoch)."""

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # the jugfile's arguments are in the chain record
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(prog="python -m jug.hpc.chain")
    p.add_argument("--jugdir", required=True)
    p.add_argument("--generation", type=int)
    p.add_argument("--handover", action="store_true")
    p.add_argument("--no-work", type=float, metavar="SINCE")
    p.add_argument("--walltime", type=float, help="the planner job's walltime (seconds)")
    p.add_argument("--deadline", type=float, help="no new try after this time (epoch)")
    p.add_argument("--started", type=float, help="when the worker handing over started")
    p.add_argument("jugfile")
    a = p.parse_args(argv)
    try:
        store = select_store(a.jugdir)
    except StoreError as e:
        print(f"jug chain: {e}", file=sys.stderr)
        return 2
    try:
        result = plan_once(store, a.jugfile, **_caller(a, Chain.load(store, a.jugfile)))
    except (SchedulerError, SubmitError, StoreError) as e:
        print(f"jug chain: {e}", file=sys.stderr)
        return 1
    print(f"jug chain: {result.outcome}: {result.message}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
