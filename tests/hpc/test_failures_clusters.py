"""A failing task on the REAL single-node SLURM (issue 21, items 1 and 9): the workers of a
``jug submit --until-done`` chain keep going past it, a worker left with only failed work
hands over like one with no work left, and the chain ends ``failed`` naming the retry.
Under CI=true these fail, never skip, if the cluster cannot start."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from support import ROOT, cancel_quietly, run_jug, until_done, wait_chain_end, wait_until

from jug.backends import select_store
from jug.hpc.chain.records import describe
from jug.state.shifts import read_records

pytestmark = pytest.mark.slurm

#: this checkout, also in the jobs (jug submit writes it into their PYTHONPATH): base_env alone
#: would run the jug installed for the machine
ENV = {"PYTHONPATH": str(ROOT)}

#: SLURM may send --signal up to a minute early: a 3-minute walltime keeps it after the
#: 30 s budget, which the work below never reaches
WALLTIME = ("--walltime", "0:03:00", "--margin", "150s")

SWEEP = """
import os, time
from jug import TaskGenerator

SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side")
os.makedirs(SIDE, exist_ok=True)

@TaskGenerator
def simulate(seed):
    open(os.path.join(SIDE, f"start-{seed}-{os.getpid()}"), "w").close()
    time.sleep(0.5)
    if seed in (3, 8):
        raise ValueError(f"bad seed {seed}")
    open(os.path.join(SIDE, f"done-{seed}-{os.getpid()}"), "w").close()
    return seed

@TaskGenerator
def report(xs):
    return sum(xs)

sims = [simulate(s) for s in range(12)]
total = report(sims)
"""

PIPELINE = """
import time
from jug import TaskGenerator

@TaskGenerator
def prep(i):
    time.sleep(0.5)
    if i == 5:
        raise ValueError("prep 5 is broken")
    return i

@TaskGenerator
def train(xs):
    return sum(xs)

ps = [prep(i) for i in range(6)]
model = train(ps[:5])
"""


def _project(proj: Path, name: str, source: str, profile: str = "") -> None:
    (proj / name).write_text(textwrap.dedent(source))
    (proj / "jug-submit.yaml").write_text(
        'execute-args: ["--wait-cycle-time", "1", "--keep-going"]\n' + profile)


@pytest.fixture
def proj(project: Path, slurm_cluster: str) -> Iterator[Path]:
    """The test project on the real SLURM; cancels what is left of its chains."""
    yield project
    for f in ("sweep.py", "pipeline.py"):
        if (project / f).exists():
            cancel_quietly(project, jugfile=f, env=ENV)


def test_workers_keep_going_past_a_failed_task_and_the_chain_names_the_retry(
        proj: Path) -> None:
    _project(proj, "sweep.py", SWEEP)
    p = until_done(proj, "slurm", "--workers", "1", *WALLTIME, jugfile="sweep.py", env=ENV)
    assert p.returncode == 0, p.stdout + p.stderr
    chain = wait_chain_end(proj, 240, jugfile="sweep.py")
    lines = "\n".join(describe(chain))
    assert chain.status == "failed", lines
    assert len(chain.generations) == 1, lines  # one worker ran everything it could
    jugfile = str(proj / "sweep.py")
    assert (f"to retry them: jug cleanup --failed-only {jugfile}, then jug submit "
            f"--resume {jugfile}") in chain.reason, chain.reason
    side = [f.name.split("-")[:2] for f in (proj / "side").iterdir()]
    assert sorted(int(s) for kind, s in side if kind == "start") == list(range(12))
    assert sorted(int(s) for kind, s in side if kind == "done") == [
        s for s in range(12) if s not in (3, 8)]
    store = select_store(str(proj / "sweep.jugdata"))
    records = wait_until(lambda: (rs := read_records(store)) and all(r.ended for r in rs)
                         and rs, 60, "the worker's exit record")
    assert [(r.reason, r.tasks, r.failed) for r in records] == [("task failed", 10, 2)]
    status = run_jug("status", "sweep.py", cwd=proj).stdout  # run_jug: this checkout
    assert "to retry them: jug cleanup --failed-only sweep.py" in status
    assert chain.reason in status


def test_a_pool_worker_left_with_only_failed_work_hands_over(proj: Path) -> None:
    """The default pool's worker passes over every prep (one fails) and leaves: its hand-over,
    not the planner job, starts the gpu pool's array for train."""
    _project(proj, "pipeline.py", PIPELINE, textwrap.dedent("""\
        pools:
          gpu: {tasks: [train], max-workers: 1}
          default: {max-workers: 1}
        """))
    p = until_done(proj, "slurm", *WALLTIME, jugfile="pipeline.py", env=ENV)
    assert p.returncode == 0, p.stdout + p.stderr
    chain = wait_chain_end(proj, 240, jugfile="pipeline.py")
    lines = "\n".join(describe(chain))
    gpu = [g for g in chain.generations if "gpu" in g.pools.values()]
    assert gpu and gpu[0].by.startswith("worker") and gpu[0].by.endswith("(no work left)"), lines
    assert chain.status == "failed" and "cleanup --failed-only" in chain.reason, lines
    store = select_store(str(proj / "pipeline.jugdata"))
    records = wait_until(lambda: (rs := read_records(store)) and all(r.ended for r in rs)
                         and rs, 60, "every worker's exit record")
    by_pool = {r.pool: (r.reason, r.tasks, r.failed) for r in records}
    # the gpu worker ran train; it exits 1 too ("blocked": a task of the jugfile failed)
    assert by_pool == {"default": ("task failed", 5, 1), "gpu": ("blocked", 1, 0)}, by_pool
