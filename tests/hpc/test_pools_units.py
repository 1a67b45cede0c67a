"""``jug submit`` with pools against the scripted fake SLURM: one array per pool, each sized
from its own tasks, a pool waiting on another's work gets workers only once it is ready."""

from __future__ import annotations

import textwrap
from pathlib import Path

from support import POOL_FUNCTIONS
from test_watch_units import FakeSlurm

from jug.backends import select_store
from jug.hpc import profiles as submit_profiles
from jug.hpc import sizing
from jug.hpc.job import submitted_arrays
from jug.hpc.pool_settings import pools_from_settings
from jug.hpc.pool_watch import PoolsWatcher, pool_plans
from jug.hpc.watch import WatchOptions
from jug.schedulers.base import RUNNING, QueueEntry
from jug.state.shifts import read_records

WF = POOL_FUNCTIONS + """
ps = [prep(i) for i in range(6)]
models = [train(ps[:3]), train(ps[3:])]
outs = [post(models[i % 2], i) for i in range(4)]
"""
POOLS = {"gpu": {"tasks": ["train"], "gpus": 1, "partition": "gpu", "max-workers": 2},
         "default": {"max-workers": 3}}


def pool_project(tmp_path: Path) -> tuple[list, dict]:
    """The WF project with the POOLS profile: (its pools, {pool: JobPlan})."""
    jf = tmp_path / "wf.py"
    jf.write_text(textwrap.dedent(WF))
    settings, _ = submit_profiles.merge(str(jf), None, {
        "scheduler": "slurm", "walltime": "00:10:00", "margin": "60", "max_array_size": 1000,
        "pythonpath": "none", "pools": POOLS}, files=[])
    pools = pools_from_settings(settings)
    return pools, pool_plans(settings, pools, str(jf), workdir=str(tmp_path))


def make_pools_loop(tmp_path: Path):
    pools, plans = pool_project(tmp_path)
    sched = FakeSlurm(plans["default"].scheduler.settings)
    for plan in plans.values():
        assert plan.log_dir == str(tmp_path / "logs")
        plan.scheduler = sched
    store = select_store(plans["default"].jugdir)
    lines: list[str] = []
    w = PoolsWatcher(plans, pools, store, WatchOptions(max_workers=10, poll=0.01),
                     echo=lines.append, sleep=lambda s: None)
    return w, sched, lines


def _run(w: PoolsWatcher, name: str) -> None:
    for t in w.tasks:
        if t.name.endswith(name) and not t.can_load():
            t.run()


def _by_pool(w: PoolsWatcher) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in submitted_arrays(w.store, w.plan.jugfile).values():
        out.setdefault(d["pool"], []).append(d)
    return out


def test_one_array_per_pool_sized_from_its_own_tasks(tmp_path: Path) -> None:
    w, sched, lines = make_pools_loop(tmp_path)
    r = w.poll()
    assert sched.queue_calls == 1  # one queue query for every pool
    arrays = _by_pool(w)
    assert list(arrays) == ["default"] and arrays["default"][0]["size"] == 3
    script = Path(arrays["default"][0]["script"]).read_text()
    assert "--pool default --exclude train" in script and "--gres" not in script
    assert any(line.startswith("[gpu] ") and "keep" in line for line in lines)
    assert r.decision.exit_code is None

    _run(w, "prep")  # the cpu work drains: the gpu pool's tasks are ready now
    sched.entries = [QueueEntry("101", [0, 1, 2], RUNNING, "RUNNING")]
    r = w.poll()
    arrays = _by_pool(w)
    assert [a["size"] for a in arrays["gpu"]] == [2]
    gpu_script = Path(arrays["gpu"][0]["script"]).read_text()
    assert "--gres=gpu:1" in gpu_script and "--partition=gpu" in gpu_script
    assert "--pool gpu --only train" in gpu_script and "jug-wf-gpu" in gpu_script
    # the default pool's tasks now wait on the gpu pool: its idle workers are stopped
    default_line = next(x for x in reversed(lines) if x.startswith("[default] "))
    assert "stop 3 idle worker(s)" in default_line


def test_done_only_when_every_pool_is_done(tmp_path: Path) -> None:
    w, sched, lines = make_pools_loop(tmp_path)
    w.poll()
    _run(w, "prep")
    _run(w, "train")
    r = w.poll()
    assert r.decision.exit_code is None  # post tasks are left
    _run(w, "post")
    assert w.run() == 0
    assert lines[-1] == "done: all 12 tasks finished"


def test_failed_pool_ends_the_loop_with_its_code(tmp_path: Path) -> None:
    w, sched, lines = make_pools_loop(tmp_path)
    w.poll()
    _run(w, "prep")
    for t in w.tasks:
        if t.name.endswith("train"):
            w.store.fail(t.hash(), {"task": t.name, "error": "boom"})
    assert w.run() == sizing.EXIT_FAILED
    assert "stopped:" in lines[-1] and "only failed tasks" in lines[-1]


SMALL = "import sys\n" + POOL_FUNCTIONS + """
ps = [prep(i) for i in range(4)]
model = train(ps)
outs = [post(model, i) for i in range(2)]
"""


def test_plain_submit_with_pools_on_fake_pbs(jug, tmp_path: Path) -> None:
    """``jug submit`` (no --watch) decides once per pool: the gpu pool waits for its inputs."""
    from support import FAKEPBS, fast_idle_workers
    from support import project_status as status

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "wf.py").write_text(textwrap.dedent(SMALL))
    fast_idle_workers(proj)
    with open(proj / "jug-submit.yaml", "a") as f:
        f.write("pools:\n  gpu: {tasks: [train], max-workers: 1}\n  default: {max-workers: 2}\n")
    env = {"FAKEPBS_DIR": str(tmp_path / "fakepbs"), "HOME": str(tmp_path),
           "FAKEPBS_SYNC": "1"}

    def submit() -> str:
        p = jug("submit", "--scheduler", "pbs", "wf.py", cwd=proj, path_prefix=str(FAKEPBS),
                env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    out = submit()
    assert "[default]" in out and "submitted pbs array" in out
    assert "pool(s) gpu: no worker yet" in out
    assert status(jug, proj, "wf.py")["total"]["finished"] == 4
    out = submit()
    gpu_line = next(x for x in out.splitlines() if x.startswith("[gpu] "))
    assert "submit 1" in gpu_line and "submitted pbs array" in gpu_line
    # the fake runs each array as it is submitted: the default pool, deciding after the
    # gpu pool in the same poll, already sees its post tasks ready and submits for them
    default_line = next(x for x in out.splitlines() if x.startswith("[default] "))
    assert "submit 2" in default_line
    st = status(jug, proj, "wf.py")
    assert st["total"]["finished"] == 7 and st["pools"]["wf.train"] == "gpu"
    recs = {(r.pool, r.tasks) for r in read_records(select_store(str(proj / "wf.jugdata")))}
    assert ("gpu", 1) in recs and sum(t for p, t in recs if p == "default") >= 1
