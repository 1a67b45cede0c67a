"""``jug submit --until-done`` on the REAL single-node SLURM and SGE (tests/clusters/*-up.sh).

The submitting process returns at once; the test then only reads the store (and the queue
to kill workers): the work carries itself across walltimes.  Shared cluster: every check
counts only this test's jobs, by the ids its chain recorded.  Under CI=true these fail,
never skip, if a cluster cannot start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from support import (
    FAILING,
    assert_each_task_once,
    cancel_quietly,
    chain_of,
    fast_idle_workers,
    side_effects,
    until_done,
    wait_chain_end,
    wait_until,
)

from jug.schedulers import get_scheduler

#: SLURM may send --signal up to a minute early: a 3-minute walltime keeps it after the
#: 30 s budget; SGE's limits are exact to the second
WALLTIME = {"slurm": ("--walltime", "0:03:00", "--margin", "150s"),
            "sge": ("--walltime", "0:00:30", "--margin", "15s")}

@pytest.fixture
def proj(project: Path) -> Iterator[Path]:
    """The test project, idle workers re-checking every second; cancels what is left."""
    fast_idle_workers(project.parent)
    yield project
    for f in project.glob("*.py"):
        cancel_quietly(project, jugfile=f.name)


def in_queue(sched: str, ids: list[str]) -> int:
    """How many of ``ids`` (arrays or planner jobs) still have an element in the queue."""
    counts = get_scheduler(sched).query(ids)
    return sum(1 for c in counts.values() if c.alive)


def killed_at_walltime(sched: str, proj: Path, arrays: list[str]) -> list[str]:
    """Workers the walltime killed: sacct TIMEOUT on SLURM, the kill in the logs on both."""
    bad = []
    if sched == "slurm":
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j",
                              ",".join(arrays)], capture_output=True, text=True).stdout
        bad += [ln for ln in out.splitlines() if "TIMEOUT" in ln]
    for log in (proj / "logs").glob("*.out"):
        text = log.read_text()
        if "TIME LIMIT" in text or "jug: received" in text:
            bad.append(log.name)
    return bad


def idle_node_seconds(proj: Path, busy: float) -> float:
    """Seconds every worker held a node (its log: first line to last write) minus the seconds
    tasks ran (sacct may be disabled on the test cluster)."""
    held = 0.0
    for log in (proj / "logs").glob("*.out"):
        m = re.match(r"jug worker \S+ of \S+ on \S+ at (\S+ \S+)", log.read_text())
        if m:
            start = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
            held += log.stat().st_mtime - start
    return held - busy


def test_work_of_three_walltimes_finishes_with_nobody_on_the_login_node(proj: Path,
                                                                        cluster: str) -> None:
    n, secs = (50, "3") if cluster == "slurm" else (40, "2")
    t0 = time.time()
    p = until_done(proj, cluster, "--workers", "2", *WALLTIME[cluster], work=(str(n), secs))
    assert p.returncode == 0 and "submitted planner job" in p.stdout, p.stdout + p.stderr
    chain = wait_chain_end(proj, 360)
    assert chain.status == "done", "\n".join(str(g) for g in chain.generations) + chain.reason
    assert len(chain.generations) >= 3, chain.generations  # it outlived several walltimes
    assert any(g.by.startswith("worker") for g in chain.generations[1:])  # a hand-over
    assert_each_task_once(proj, n)
    arrays = chain.arrays()
    wait_until(lambda: in_queue(cluster, arrays + chain.helpers()) == 0, 120,
               "the chain's jobs to leave the queue")
    assert killed_at_walltime(cluster, proj, arrays) == []
    workers = sum(g.workers for g in chain.generations)
    idle = idle_node_seconds(proj, n * float(secs))
    print(f"[{cluster} --until-done: {time.time() - t0:.0f} s, {len(chain.generations)} "
          f"generations, {workers} workers, idle node-seconds {idle:.0f}]")


@pytest.mark.slurm
def test_slurm_safety_net_resumes_after_scancel_of_every_worker(proj: Path) -> None:
    p = until_done(proj, "slurm", "--workers", "2", *WALLTIME["slurm"], work=("30", "2"))
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(proj)[1]) >= 3, 90, "three finished tasks")
    first = chain_of(proj).generations[0]
    subprocess.run(["scancel", *first.arrays], check=True)
    chain = wait_chain_end(proj, 300)
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("planner job"), chain.generations
    started, done = side_effects(proj)
    assert sorted(done, key=int) == [str(i) for i in range(30)]
    assert len(started) - len(done) <= 2  # only the two cancelled tasks ran again


@pytest.mark.sge
def test_sge_stop_file_drains_the_chain_and_a_new_submit_resumes(proj: Path) -> None:
    p = until_done(proj, "sge", "--workers", "2", *WALLTIME["sge"], work=("30", "2"))
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(proj)[1]) >= 2, 90, "two finished tasks")
    (proj / "STOP").touch()
    chain = wait_chain_end(proj, 120)
    assert chain.status == "drained" and "stop file" in chain.reason, chain
    wait_until(lambda: in_queue("sge", chain.arrays() + chain.helpers()) == 0, 60,
               "the drained chain to leave the queue")
    assert len(chain_of(proj).generations) == len(chain.generations)  # nothing new
    started, done = side_effects(proj)
    assert sorted(started) == sorted(done) and len(done) < 30
    (proj / "STOP").unlink()
    p = until_done(proj, "sge", "--workers", "2", *WALLTIME["sge"], work=("30", "2"))
    assert p.returncode == 0, p.stderr
    assert wait_chain_end(proj, 240).status == "done"
    assert_each_task_once(proj, 30)


def test_cancel_leaves_nothing_of_the_chain_in_the_queue(proj: Path, cluster: str) -> None:
    p = until_done(proj, cluster, "--workers", "2", *WALLTIME[cluster], work=("30", "2"))
    assert p.returncode == 0, p.stderr
    chain = chain_of(proj)
    ids = chain.arrays() + chain.helpers()
    assert len(ids) == 2 and in_queue(cluster, ids) == 2  # an array and its planner job
    cancel_quietly(proj)
    wait_until(lambda: in_queue(cluster, ids) == 0, 60, "the chain's jobs to leave")
    assert chain_of(proj).status == "cancelled"


def test_all_failing_tasks_stop_after_one_generation(proj: Path, cluster: str,
                                                     jug) -> None:
    (proj / "bad.py").write_text(FAILING)
    p = until_done(proj, cluster, "--workers", "2", *WALLTIME[cluster], jugfile="bad.py")
    assert p.returncode == 0, p.stderr
    chain = wait_chain_end(proj, 180, jugfile="bad.py")
    assert len(chain.generations) == 1 and chain.status in ("failed", "stopped"), chain
    status = jug("status", "bad.py", cwd=proj).stdout
    assert re.search(rf"chain \(--until-done\): {chain.status}", status), status
    assert chain.reason in status


@pytest.mark.sge
def test_sge_probe_sees_that_execution_hosts_may_submit(sge_cluster: str) -> None:
    """The single-node SGE's execution host is a submit host (qconf -sel vs qconf -ss)."""
    sge = get_scheduler("sge")
    assert sge.submit_hosts_probe() is True
    assert get_scheduler("sge", {"compute_submit": "no"}).compute_nodes_may_submit() is False


def flaky(shims: Path, name: str, fails: int, message: str) -> None:
    """Put a ``name`` in front of the real one that fails its first ``fails`` calls made
    inside a batch job with ``message``, as a busy slurmctld makes them fail."""
    real = shutil.which(name)
    assert real, name
    shims.mkdir(exist_ok=True)
    shim = shims / name
    shim.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        if [ -n "$SLURM_JOB_ID" ]; then
          exec 9>>"{shims}/{name}.lock"; flock 9
          n=$(cat "{shims}/{name}.count" 2>/dev/null || echo 0)
          echo $((n + 1)) > "{shims}/{name}.count"
          if [ "$n" -lt {fails} ]; then echo "{message}" >&2; exit 1; fi
          exec 9>&-
        fi
        exec {real} "$@"
        """))
    shim.chmod(0o755)


@pytest.mark.slurm
def test_slurm_errors_that_go_away_do_not_end_the_chain(proj: Path, slurm_cluster: str) -> None:
    """Issue 20: squeue timing out made the planner exit 1 with the chain 'running' and no
    planner left; `sbatch: Socket timed out` stopped the chain for good.  The hand-overs and
    planner jobs here meet both (inside the jobs only): they ask again with back-off."""
    shims = proj.parent / "shims"
    flaky(shims, "squeue", 2, "squeue: error: slurm_load_jobs error: Socket timed out on "
          "send/recv operation")
    flaky(shims, "sbatch", 1, "sbatch: error: Batch job submission failed: Socket timed out "
          "on send/recv operation")
    env = {"PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    p = until_done(proj, "slurm", "--workers", "2", *WALLTIME["slurm"], work=("30", "3"),
                   env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    chain = wait_chain_end(proj, 420)
    assert chain.status == "done", "\n".join(str(g) for g in chain.generations) + chain.reason
    assert len(chain.generations) >= 2
    assert int((shims / "squeue.count").read_text()) > 2  # the failures were met ...
    assert int((shims / "sbatch.count").read_text()) > 1
    logs = "".join(f.read_text() for f in (proj / "logs").glob("*.out"))
    assert "Socket timed out" in logs and "asking again in" in logs, logs[-3000:]
    assert_each_task_once(proj, 30)


@pytest.mark.slurm
def test_slurm_resume_reuses_the_chain_settings(proj: Path, slurm_cluster: str, jug) -> None:
    """Issue 21 item 4: after a drain, `jug submit --resume work.py` (the command the chain's
    status names) starts again with the walltime, workers and limits it was started with,
    not the built-in ones."""
    from jug.backends import select_store
    from jug.hpc.job import submitted_arrays

    p = until_done(proj, "slurm", "--workers", "2", "--max-workers", "2", *WALLTIME["slurm"],
                   work=("30", "2"))
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(proj)[1]) >= 2, 90, "two finished tasks")
    (proj / "STOP").touch()
    chain = wait_chain_end(proj, 240)
    assert chain.status == "drained" and "jug submit --resume work.py" in chain.reason, chain
    wait_until(lambda: in_queue("slurm", chain.arrays() + chain.helpers()) == 0, 120,
               "the drained chain to leave the queue")
    (proj / "STOP").unlink()
    r = jug("submit", "--resume", "work.py", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "walltime 00:03:00, margin 00:02:30, 2 workers, at most 2 at once" in r.stdout
    again = chain_of(proj)
    assert again.status == "running" and again.generations[0].workers == 2, again
    docs = submitted_arrays(select_store(str(proj / "work.jugdata")))
    [doc] = [d for d in docs.values() if d["job_id"] == again.generations[0].arrays[0]]
    script = Path(doc["script"]).read_text()
    assert "#SBATCH --time=00:03:00" in script and "#SBATCH --array=0-1" in script, script
    assert wait_chain_end(proj, 360).status == "done"
    assert_each_task_once(proj, 30)
