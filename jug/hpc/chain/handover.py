"""The hand-over: a worker of a chain that leaves because its budget is spent (with pools also:
with no work left it could run) plans the next workers, in a child process
(``python -m jug.hpc.chain --handover``) immune to the walltime's warning signals.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from typing import Any

from ...backends.owner import current_owner
from ...hooks import exit_checks
from ...state.shifts import ExitReason
from .records import RUNNING, Chain, Trigger


def _draining() -> bool:
    """True if the stop file of this worker exists: nobody plans while the work drains."""
    stop = os.environ.get("JUG_EXIT_IF_FILE_EXISTS")
    return bool(stop and os.path.exists(stop))


def budget_spent(reason: str) -> bool:
    """True if a worker stopped because its time budget is spent (not done, not STOP)."""
    if _draining():
        return False
    left = exit_checks.time_left()
    if left is None:
        return False
    return left <= 0 or reason.startswith("not enough time left")


def handover_trigger(chain: Chain, why: str, detail: str) -> Trigger | None:
    """Which hand-over a worker of ``chain`` leaving for ``why`` (an ExitReason value) runs:
    a spent budget always; with pools also no work left it could run (its tasks wait on
    another pool, or its pool is done while another's tasks became ready), else the next
    pool's workers would wait for the planner job.  None: no hand-over."""
    if budget_spent(detail):
        return Trigger.BUDGET
    if chain.pools and why == ExitReason.NO_WORK and not _draining():
        return Trigger.NO_WORK
    return None


def hand_over(store: Any, jugfile: str, why: str, detail: str) -> None:
    """Called by ``jug execute`` when it leaves: plan the next workers if this worker of a
    chain leaves as :func:`handover_trigger` says.  Runs the poll in a child process (fresh
    jugfile load), immune to the walltime's warning signals, so a plan is never cut.
    ``jug execute`` calls it only inside a batch job (outside one there is no chain)."""
    try:
        chain = Chain.load(store, jugfile)
    except Exception:
        return
    trigger = handover_trigger(chain, why, detail) if chain else None
    if chain is None or chain.status != RUNNING or trigger is None:
        return
    flag = ["--handover"] if trigger is Trigger.BUDGET else ["--no-work", f"{time.time():.3f}"]
    timeout = max(30, int(chain.settings.get("margin") or 60) - 5)
    cmd = [sys.executable, "-m", "jug.hpc.chain", "--jugdir", chain.jugdir, *flag,
           "--deadline", f"{time.time() + timeout - 10:.0f}", "--started",
           repr(current_owner()["started"]), chain.jugfile]
    sigs = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        print(f"jug: {trigger.value}: handing over ({shlex.join(cmd)})", file=sys.stderr,
              flush=True)
        subprocess.run(cmd, timeout=timeout, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"jug: hand-over failed: {e}", file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
