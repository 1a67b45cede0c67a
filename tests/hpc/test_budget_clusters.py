"""The budget, its backstop signal and validation on the REAL single-node SLURM and SGE.

SLURM may send ``--signal`` up to 60 s before the asked time (seen here: about 30 s early),
so a lead of half a short margin cut tasks inside the budget; jug now asks for a lead that
keeps the earliest arrival after the budget's end, or none.  Each pool's script is checked
by the scheduler (``sbatch --test-only``, ``qsub -w v``) before anything is submitted.
Under CI=true these fail, never skip, if a cluster cannot start.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

from support import (
    cancel_quietly,
    chain_of,
    fast_idle_workers,
    project_status,
    until_done,
    wait_chain_end,
    wait_until,
)

from jug.backends import select_store
from jug.hpc.job import submitted_arrays
from jug.schedulers import get_scheduler
from jug.state.shifts import read_records

#: N tasks of 5 s, then tasks whose run time nobody knows yet: the first of them starts
#: shortly before the budget ends and runs across it
ACROSS = """
import os, time
from jug import TaskGenerator

SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side")
os.makedirs(SIDE, exist_ok=True)

def mark(what):
    with open(os.path.join(SIDE, f"{what}-{os.getpid()}"), "w") as f:
        f.write(repr(time.time()))

@TaskGenerator
def quick(i):
    mark(f"start-quick{i}"); time.sleep(5); mark(f"done-quick{i}")
    return i

@TaskGenerator
def slow(i, xs):
    mark(f"start-slow{i}"); time.sleep({slow}); mark(f"done-slow{i}")
    return i

xs = [quick(i) for i in range({n_quick})]
ys = [slow(i, xs) for i in range(2)]
"""

#: SLURM: walltime 2 min, margin 40 s, prologue 10 s: the budget ends 80 s into the job, a
#: 20 s task runs from about 72 s to 92 s; a lead of 20 s (half the margin) made SIGTERM
#: arrive at about 71 s.  SGE: walltime 60 s, margin 30 s: s_rt at 45 s (exact), the budget
#: ends at 30 s, a 10 s task runs from about 24 s to 34 s.
ACROSS_CASES = {
    "slurm": {"walltime": "2:00", "margin": "40s", "sleep": 10, "n_quick": 12, "slow": 20,
              "end": 80, "signal": None},
    "sge": {"walltime": "1:00", "margin": "30s", "sleep": 3, "n_quick": 4, "slow": 10,
            "end": 30, "signal": "#$ -l s_rt=00:00:45"},
}


def marks(proj: Path) -> dict[str, float]:
    """{'start-quick3@PID': time, ...} of every task run."""
    return {f.name.rsplit("-", 1)[0] + "@" + f.name.rsplit("-", 1)[1]: float(f.read_text())
            for f in (proj / "side").iterdir()}


def test_backstop_never_cuts_a_task_across_the_budget_end(jug, project: Path,
                                                          cluster: str) -> None:
    """A task started inside the budget and running across its end finishes; the worker
    leaves for its budget and hands over; no signal stops a task (reason budget, never
    signal).  The budget counts from the job's start, prologue included."""
    case = ACROSS_CASES[cluster]
    fast_idle_workers(project.parent)
    (project / "across.py").write_text(ACROSS.replace("{slow}", str(case["slow"]))
                                       .replace("{n_quick}", str(case["n_quick"])))
    p = until_done(project, cluster, "--workers", "1", "--walltime", case["walltime"],
                   "--margin", case["margin"], "--prologue",
                   f"date +%s.%N >> job-start; sleep {case['sleep']}", jugfile="across.py")
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        [script] = [t for f in (project / "logs").glob("*.sh")
                    if "jug worker" in (t := f.read_text())]
        if case["signal"] is None:
            assert "--signal" not in script  # no lead keeps it after the budget
        else:
            assert case["signal"] in script.splitlines()
        chain = wait_chain_end(project, 420, jugfile="across.py")
    finally:
        cancel_quietly(project, jugfile="across.py")
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("worker"), chain.generations  # a hand-over
    records = sorted(read_records(select_store(str(project / "across.jugdata"))),
                     key=lambda r: r.started)
    assert records[0].reason == "budget", records[0]  # not "signal"
    assert all(r.reason != "signal" for r in records), records
    seen = marks(project)
    starts = {k.split("@")[0][6:] for k in seen if k.startswith("start-")}
    dones = {k.split("@")[0][5:] for k in seen if k.startswith("done-")}
    n = case["n_quick"] + 2
    assert starts == dones and len(seen) == 2 * n, sorted(seen)  # none cut, none twice
    t0 = min(float(x) for x in (project / "job-start").read_text().split())  # generation 1
    end = case["end"]
    across = [k for k in seen if k.startswith("start-slow")
              and seen[k] - t0 < end < seen[k.replace("start-", "done-")] - t0]
    assert len(across) == 1, {k: round(v - t0, 1) for k, v in seen.items()}
    assert records[0].ended is not None and records[0].ended - t0 < end + case["slow"] + 5
    st = project_status(jug, project, "across.py")
    assert st["total"]["finished"] == n and st["locks"]["count"] == 0


#: what each scheduler says about a GPU request on the test clusters (no GRES, no complex)
NO_GPU = {"slurm": ("sbatch --test-only", "Invalid generic resource (gres) specification"),
          "sge": ("qsub -w v", 'unknown resource "gpu"')}


def test_a_pool_the_cluster_cannot_serve_is_refused_before_anything_is_queued(
        jug, project: Path, cluster: str) -> None:
    """``gpus: 1`` in a pool on a cluster without GPUs: jug submit refuses at once with the
    scheduler's own line, before the CPU pool's array (it failed hours later)."""
    fast_idle_workers(project.parent)
    (project / "pipe.py").write_text(textwrap.dedent("""\
        from jug import TaskGenerator

        @TaskGenerator
        def prep(i):
            return i

        @TaskGenerator
        def train(xs):
            return sum(xs)

        m = train([prep(i) for i in range(4)])
        """))
    (project / "jug-submit.yaml").write_text(
        'pools:\n  gpu: {tasks: [train], gpus: 1}\n  default: {max-workers: 2}\n')
    command, words = NO_GPU[cluster]
    for extra in ((), ("--until-done",)):
        p = jug("submit", "--scheduler", cluster, *extra, "pipe.py", cwd=project)
        assert p.returncode == 2, p.stdout + p.stderr
        [line] = p.stderr.splitlines()
        assert line.startswith(f"jug submit: {command} refuses pool gpu's job script: ")
        assert words in line and "nothing was submitted" in line, line
        store = select_store(str(project / "pipe.jugdata"))
        assert submitted_arrays(store) == {} and chain_of(project, "pipe.py") is None
        assert not (project / "logs").exists()
    names = subprocess.run(["squeue", "-h", "-o", "%j"] if cluster == "slurm"
                           else ["qstat", "-u", "*"], capture_output=True, text=True).stdout
    assert "jug-pipe" not in names
    # the same pool asking for nothing the cluster lacks runs
    (project / "jug-submit.yaml").write_text(
        'pools:\n  gpu: {tasks: [train]}\n  default: {max-workers: 2}\n')
    p = jug("submit", "--scheduler", cluster, "pipe.py", cwd=project)
    assert p.returncode == 0, p.stderr
    ids = [d["job_id"] for d in submitted_arrays(select_store(str(project / "pipe.jugdata")))
           .values()]
    sched = get_scheduler(cluster)
    wait_until(lambda: all(c.alive == 0 for c in sched.query(ids).values()), 90,
               "the default pool's array to end")
    assert re.search(r"submitted \w+ array", p.stdout)
