"""Worker pools on the REAL single-node SLURM and SGE (tests/clusters/*-up.sh).

SLURM: 40 one-core ``prep`` tasks -> 2 ``train`` tasks of the "gpu" pool (its own partition,
which slurm-up.sh adds live) -> 20 one-core ``post`` tasks, under ``jug submit --watch``.
SGE: the same shape, smaller, with the two pools as two resource requests.  Under CI=true
these fail, never skip, if a cluster cannot start.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import base_env, cancel_quietly, until_done, wait_chain_end, wait_until

from jug.backends import select_store
from jug.hpc.chain.records import describe as chain_lines
from jug.hpc.job import submitted_arrays
from jug.state.shifts import read_records

PIPELINE = """
import os, time
from jug import TaskGenerator

N_PREP, N_POST = {n_prep}, {n_post}
SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side")
os.makedirs(SIDE, exist_ok=True)

def mark(what):
    with open(os.path.join(SIDE, f"{what}-{os.getpid()}-{time.time():.3f}"), "w"):
        pass

@TaskGenerator
def prep(i):
    mark(f"prep{i}")
    time.sleep({prep_secs})
    mark(f"endprep{i}")
    return i

@TaskGenerator
def train(xs, k):
    mark(f"train{k}")
    time.sleep(8)
    return sum(xs) + k

@TaskGenerator
def post(m, i):
    mark(f"post{i}")
    time.sleep(1.5)
    return m + i

ps = [prep(i) for i in range(N_PREP)]
models = [train(ps[k::2], k) for k in range(2)]
outs = [post(models[i % 2], i) for i in range(N_POST)]
"""


def write_project(proj: Path, gpu_request: str, n_prep: int, n_post: int,
                  prep_secs: float = 1.5) -> None:
    """The pipeline and its profile: a gpu pool (``gpu_request``) and a default pool."""
    source = (PIPELINE.replace("{n_prep}", str(n_prep)).replace("{n_post}", str(n_post))
              .replace("{prep_secs}", str(prep_secs)))
    (proj / "pipeline.py").write_text(textwrap.dedent(source))
    (proj / "jug-submit.yaml").write_text(textwrap.dedent(f"""\
        execute-args: ["--wait-cycle-time", "1"]
        walltime: "00:10:00"
        margin: 30s
        pools:
          gpu: {{tasks: [train], max-workers: 2, {gpu_request}}}
          default: {{max-workers: 2}}
        """))


def run_watch(proj: Path, sched: str, timeout: float) -> str:
    """``jug submit --watch`` until done; its output."""
    p = subprocess.Popen([sys.executable, "-m", "jug", "submit", "--scheduler", sched,
                          "--watch", "--poll", "2", "pipeline.py"], cwd=proj,
                         env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
        subprocess.run([sys.executable, "-m", "jug", "submit", "--cancel", "pipeline.py"],
                       cwd=proj, env=base_env(), capture_output=True, timeout=120)
        pytest.fail(f"--watch did not finish in {timeout:.0f} s:\n{out}")
    assert p.returncode == 0, out
    return out


def check_pools(proj: Path, n_prep: int, n_post: int) -> None:
    """Every task once, in its pool's array; the gpu array only once its tasks were ready."""
    side = [f.name.split("-") for f in (proj / "side").iterdir()]
    starts = sorted(n for n, _pid, _t in side if not n.startswith("end"))
    expected = sorted([f"prep{i}" for i in range(n_prep)] + ["train0", "train1"]
                      + [f"post{i}" for i in range(n_post)])
    assert starts == expected  # every task ran exactly once
    store = select_store(str(proj / "pipeline.jugdata"))
    arrays = submitted_arrays(store, str(proj / "pipeline.py")).values()
    pool_of_array = {a["short_id"]: a["pool"] for a in arrays}
    runs: dict[str, int] = {}
    # the loop ends when the last task is finished; its worker writes its exit record after
    records = wait_until(lambda: (rs := read_records(store)) and all(r.ended for r in rs)
                         and rs, 90, "every worker's exit record")
    for r in records:
        assert r.job and pool_of_array[str(r.job["array_job_id"])] == r.pool, r
        runs[r.pool or "?"] = runs.get(r.pool or "?", 0) + r.tasks
    shown = "\n".join(f"{r.pool} {r.element} {r.tasks} {r.reason} {r.detail}" for r in records)
    assert runs == {"default": n_prep + n_post, "gpu": 2}, shown
    prep_done = max(float(t) for n, _pid, t in side if n.startswith("endprep"))
    gpu_arrays = [a for a in arrays if a["pool"] == "gpu"]
    assert gpu_arrays and min(a["submitted"] for a in gpu_arrays) >= prep_done - 1.0


def report(proj: Path) -> tuple[str, float]:
    """``jug submit --report`` and the efficiency of its 'all' row (percent)."""
    p = subprocess.run([sys.executable, "-m", "jug", "submit", "--report", "pipeline.py"],
                       cwd=proj, env=base_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if line.startswith("all "))
    eff = float(re.search(r"(\d+)%", row).group(1))
    return p.stdout, eff


@pytest.mark.slurm
def test_slurm_pools_gpu_array_waits_for_its_tasks(project: Path, slurm_cluster: str) -> None:
    subprocess.run(["scontrol", "show", "partition", "gpu"], check=True, capture_output=True)
    write_project(project, "partition: gpu", 40, 20)
    out = run_watch(project, "slurm", timeout=600)
    assert "[gpu] " in out and "done: all 62 tasks finished" in out
    scripts = [a["script"] for a in submitted_arrays(
        select_store(str(project / "pipeline.jugdata"))).values() if a["pool"] == "gpu"]
    assert all("--partition=gpu" in Path(s).read_text() for s in scripts)
    check_pools(project, 40, 20)
    text, eff = report(project)
    print(f"\n{text}")
    assert eff >= 85, text


@pytest.mark.sge
def test_sge_two_pools_as_two_resource_requests(project: Path, sge_cluster: str) -> None:
    write_project(project, "mem: 4G", 8, 4)
    out = run_watch(project, "sge", timeout=480)
    print(out)
    assert "[gpu] " in out and "done: all 14 tasks finished" in out
    store = select_store(str(project / "pipeline.jugdata"))
    scripts = {a["pool"]: Path(a["script"]).read_text() for a in submitted_arrays(store).values()}
    assert "h_vmem=" in scripts["gpu"] and "h_vmem=" not in scripts["default"]
    check_pools(project, 8, 4)
    text, eff = report(project)
    print(f"\n{text}")
    assert eff > 0


@pytest.mark.slurm
def test_slurm_until_done_sizes_every_pool_across_walltimes(project: Path,
                                                           slurm_cluster: str) -> None:
    """``--until-done`` with pools: the submitting process returns at once; a 10 s budget
    makes the prep workers hand over; the gpu array starts once its tasks are ready (after
    the last prep: a prep worker with no work left hands over), the post tasks' workers once
    train is done; it ends done."""
    write_project(project, "partition: gpu", 12, 6, prep_secs=3)
    jf = project / "pipeline.py"  # each train task needs every prep task here
    jf.write_text(jf.read_text().replace("train(ps[k::2], k)", "train(ps, k)"))
    t0 = time.time()
    try:
        p = until_done(project, "slurm", "--walltime", "0:03:00", "--margin", "170s",
                       jugfile="pipeline.py")
        returned = time.time() - t0
        assert p.returncode == 0 and "submitted planner job" in p.stdout, p.stdout + p.stderr
        chain = wait_chain_end(project, 150, jugfile="pipeline.py")
        took = time.time() - t0
    except BaseException:
        cancel_quietly(project, jugfile="pipeline.py")  # (it forgets the array records)
        raise
    gens = "\n".join(map(str, chain.generations))
    assert chain.status == "done" and chain.reason == "all 20 tasks finished", gens
    by = [g.by for g in chain.generations[1:]]
    assert any(b.startswith("worker") and not b.endswith("(no work left)") for b in by), by
    check_pools(project, 12, 6)
    per_pool: dict[str, int] = {}
    for g in chain.generations:
        for pool in g.pools.values():
            per_pool[pool] = per_pool.get(pool, 0) + 1
    side = [f.name.split("-") for f in (project / "side").iterdir()]
    prep_done = max(float(t) for n, _pid, t in side if n.startswith("endprep"))
    gpu_at = min(g.submitted for g in chain.generations if "gpu" in g.pools.values())
    print(f"\n[slurm --until-done with pools: submit returned in {returned:.1f} s, chain done "
          f"after {took:.0f} s, {len(chain.generations)} generations, arrays per pool "
          f"{per_pool}, first gpu array submitted {gpu_at - prep_done:+.1f} s after the last "
          f"prep finished]\n" + "\n".join(chain_lines(chain)))
