"""Test jugfile: N tasks that each sleep S seconds and leave start/done files in side/.

Usage: jug execute work.py -- N S   (defaults 6 tasks, 0.5 s).  The files record which
array element ran each task, so tests can check that every task ran exactly once.
"""

import os
import sys
import time

from jug import TaskGenerator

N = int(sys.argv[1]) if len(sys.argv) > 1 else 6
SLEEP = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side")
os.makedirs(SIDE, exist_ok=True)


def _element() -> str:
    for var in ("SLURM_ARRAY_TASK_ID", "SGE_TASK_ID", "PBS_ARRAY_INDEX", "PBS_ARRAYID",
                "LSB_JOBINDEX", "HTCONDOR_PROCID"):
        if os.environ.get(var):
            return f"{var}={os.environ[var]}"
    return "local"


@TaskGenerator
def work(i):
    tag = f"{i}-{os.getpid()}"
    with open(os.path.join(SIDE, f"start-{tag}"), "w") as f:
        f.write(_element())
    time.sleep(SLEEP)
    with open(os.path.join(SIDE, f"done-{tag}"), "w") as f:
        f.write(_element())
    return i * i


results = [work(i) for i in range(N)]
