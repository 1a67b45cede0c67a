"""``jug submit --until-done`` with worker pools against a scripted fake SLURM queue shared by
every pool's adapter: the chain record rebuilds every pool's plan, generation 1 is one pools
poll, every hand-over sizes every pool with the chain's rules, bounds apply per pool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_pools_units import POOLS, pool_project
from test_watch_units import FakeSlurm

from jug.backends import select_store
from jug.hpc import job as job_module
from jug.hpc.chain.bounds import bound_reason
from jug.hpc.chain.handover import handover_trigger
from jug.hpc.chain.planning import SKIPPED, SUBMITTED, plan_once, rebuild_plans
from jug.hpc.chain.records import Chain, Generation, Trigger, describe
from jug.hpc.chain.start import start_pools
from jug.hpc.job import submitted_arrays
from jug.hpc.pool_settings import declaration, parse_pools, pools_from_settings
from jug.hpc.watch import WatchOptions
from jug.jugfile import load
from jug.schedulers.base import RUNNING, QueueEntry
from jug.state.shifts import ExitReason


class PoolSlurm(FakeSlurm):
    """The fake SLURM with one queue for every pool's adapter, as on a real cluster."""

    shared: dict[str, Any] = {}

    def queue(self) -> list[QueueEntry]:
        self.shared["queries"] += 1
        return list(self.shared["entries"])

    def submit(self, script: str, cwd: str | None = None) -> str:
        self.entries, self.next_id = self.shared["entries"], self.shared["next"]
        self.reject = self.shared.get("reject")
        if "--array=" in Path(script).read_text():
            job_id = super().submit(script, cwd)
        else:  # a planner job: held, so never listed as running
            self.next_id += 1
            job_id = str(self.next_id)
        self.shared["next"] = self.next_id
        self.shared["scripts"][job_id] = Path(script).read_text()
        return job_id

    def _run(self, cmd, what, cwd=None, timeout=120, check=True):  # type: ignore[override]
        self.shared["calls"].append(list(cmd))


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The shared fake queue; every plan (also one rebuilt from the chain record) uses it."""
    PoolSlurm.shared = {"entries": [], "next": 100, "queries": 0, "scripts": {}, "calls": []}
    monkeypatch.setattr(job_module, "get_scheduler", lambda name, s=None: PoolSlurm(s or {}))
    return PoolSlurm.shared


def start(tmp_path: Path) -> tuple[Any, Chain, list[str]]:
    """A project with two pools and its chain started (generation 1 submitted)."""
    pools, plans = pool_project(tmp_path)
    store = select_store(plans["default"].jugdir)
    lines: list[str] = []
    chain = start_pools(plans, pools, store, WatchOptions(max_workers=10), None, {},
                        echo=lines.append)
    return store, chain, lines


def run_tasks(store: Any, chain: Chain, name: str, n: int | None = None) -> None:
    """Run the (first ``n``) tasks called ``name`` in this process (as a worker would)."""
    todo = [t for t in load(chain.jugfile, store).tasks
            if t.name.endswith(name) and not t.can_load()]
    for t in todo[:n]:
        t.run()


def running(cluster: dict, job_id: str, n: int) -> None:
    """The queue shows ``n`` running elements of ``job_id`` (holding no task lock: idle)."""
    cluster["entries"] = [e for e in cluster["entries"] if e.array_id != job_id]
    cluster["entries"].append(QueueEntry(job_id, list(range(n)), RUNNING, "RUNNING"))


def test_chain_record_with_pools_round_trips_and_rebuilds_every_plan(
        tmp_path: Path, cluster: dict) -> None:
    store, chain, _ = start(tmp_path)
    again = Chain.load(store, chain.jugfile)
    assert again == chain and list(again.pools) == ["gpu", "default"]
    assert parse_pools(again.pools) == pools_from_settings({"pools": POOLS})
    assert declaration(parse_pools(again.pools)) == again.pools
    plans = rebuild_plans(again)  # what a worker on a compute node does
    assert {n: p.pool for n, p in plans.items()} == {"gpu": "gpu", "default": "default"}
    gpu = plans["gpu"].render(2)
    assert "--gres=gpu:1" in gpu and "--partition=gpu" in gpu and "jug-wf-gpu" in gpu
    assert "--pool gpu --only train" in gpu
    default = plans["default"].render(3)
    assert "--gres" not in default and "--pool default --exclude train" in default
    first = next(iter(cluster["scripts"].values()))
    assert default.split("\n", 1)[1] == first.split("\n", 1)[1]  # the same script again


def test_generation_one_is_one_pools_poll_and_the_gpu_pool_waits(tmp_path: Path,
                                                                 cluster: dict) -> None:
    store, chain, lines = start(tmp_path)
    assert len(chain.generations) == 1
    gen = chain.generations[0]
    assert gen.pools == {a: "default" for a in gen.arrays} and gen.workers == 3
    assert gen.by == "jug submit" and gen.after == 0 and gen.planner
    planner = cluster["scripts"][gen.planner]
    assert f"--dependency=afterany:{gen.arrays[0]}" in planner
    assert "--generation 1" in planner
    assert cluster["queries"] == 1  # one queue query for every pool
    assert any(ln.startswith("[gpu] ") and "keep" in ln for ln in lines)
    assert {d["pool"] for d in submitted_arrays(store, chain.jugfile).values()} == {"default"}


def test_a_worker_with_no_work_left_starts_the_gpu_pool(tmp_path: Path,
                                                        cluster: dict) -> None:
    store, chain, _ = start(tmp_path)
    first = chain.generations[0].arrays[0]
    running(cluster, first, 3)
    run_tasks(store, chain, "prep")  # the cpu work drained: train is ready
    left = time.time()
    r = plan_once(store, chain.jugfile, 1, "worker w0", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "0"), since=left)
    chain = Chain.load(store, chain.jugfile)
    assert r.outcome == SUBMITTED, r
    gen = chain.generations[1]
    assert gen.after == 1 and list(gen.pools.values()) == ["gpu"] and gen.workers == 2
    assert gen.pool_finished == {"gpu": 0, "default": 6}
    assert "(gpu)" in r.message
    # the idle default workers are stopped, never the one handing over (element 0)
    stopped = [c for c in cluster["calls"] if c[0] == "scancel"]
    assert stopped == [["scancel", f"{first}_1", f"{first}_2"]], stopped
    planner = cluster["scripts"][gen.planner]
    assert f"--dependency=afterany:{gen.arrays[0]}:{first}" in planner
    # the other prep workers that left at the same time: that poll saw their work already
    r = plan_once(store, chain.jugfile, 1, "worker w1", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "1"), since=left)
    assert r.outcome == SKIPPED and "polled after this worker left" in r.message, r
    r = plan_once(store, chain.jugfile, 1, "worker w1", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "1"), since=time.time())
    assert r.outcome != SKIPPED, r


def test_budget_hand_over_plans_its_pool_once_and_no_work_is_never_skipped(
        tmp_path: Path, cluster: dict) -> None:
    store, chain, _ = start(tmp_path)
    first = chain.generations[0].arrays[0]
    running(cluster, first, 3)
    r = plan_once(store, chain.jugfile, 1, "worker w0", Trigger.BUDGET, echo=lambda s: None,
                  leaver=(first, "0"))
    assert r.outcome == "ended" and "finished no task of pool default" in r.message
    chain.version = Chain.load(store, chain.jugfile).version
    assert chain.save(store)  # (running again: the test undoes the stop)
    run_tasks(store, chain, "prep", 2)
    r = plan_once(store, chain.jugfile, 1, "worker w0", Trigger.BUDGET, echo=lambda s: None,
                  leaver=(first, "0"))
    assert r.outcome == SUBMITTED  # the leaving array is no supply: a new default array
    chain = Chain.load(store, chain.jugfile)
    assert list(chain.generations[1].pools.values()) == ["default"]
    r = plan_once(store, chain.jugfile, 1, "worker w1", Trigger.BUDGET, echo=lambda s: None,
                  leaver=(first, "1"))
    assert r.outcome == SKIPPED and "generation 2 after generation 1" in r.message
    r = plan_once(store, chain.jugfile, 1, "worker w2", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "2"))
    assert r.outcome != SKIPPED  # it polls (and finds enough workers)
    assert len(Chain.load(store, chain.jugfile).generations) == 2


def test_the_last_worker_with_no_work_left_ends_the_chain_done(tmp_path: Path,
                                                               cluster: dict) -> None:
    store, chain, _ = start(tmp_path)
    for name in ("prep", "train", "post"):
        run_tasks(store, chain, name)
    first = chain.generations[0].arrays[0]
    r = plan_once(store, chain.jugfile, 1, "worker w0", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "0"))
    chain = Chain.load(store, chain.jugfile)
    assert r.outcome == "ended" and chain.status == "done", (r, chain)
    assert chain.reason == "all 12 tasks finished"


def test_a_chain_left_with_failed_tasks_ends_failed_naming_the_retry(tmp_path: Path,
                                                                     cluster: dict) -> None:
    store, chain, _ = start(tmp_path)
    run_tasks(store, chain, "prep")
    for t in load(chain.jugfile, store).tasks:
        if t.name.endswith("train"):
            store.fail(t.hash(), {"task": t.name, "error": "ValueError('x')"})
    first = chain.generations[0].arrays[0]
    r = plan_once(store, chain.jugfile, 1, "worker w0", Trigger.NO_WORK, echo=lambda s: None,
                  leaver=(first, "0"))
    chain = Chain.load(store, chain.jugfile)
    assert r.outcome == "ended" and chain.status == "failed", (r, chain)
    assert f"see jug status --traceback all {chain.jugfile}" in chain.reason
    assert (f"to retry them: jug cleanup --failed-only {chain.jugfile}, then jug submit "
            f"--resume {chain.jugfile}") in chain.reason
    assert f"  failed: {chain.reason}" in describe(chain)


def test_bounds_apply_per_pool(tmp_path: Path) -> None:
    chain = Chain("/p/wf.py", "/p/wf.jugdata", "/p", "slurm", {}, [], 4, None, 10, 300.0,
                  time.time())
    chain.generations = [
        Generation(1, ["11"], 3, 0.0, "jug submit", 0, 0, pools={"11": "default"},
                   pool_finished={"default": 0, "gpu": 0}),
        Generation(2, ["12", "13"], 4, 0.0, "w", 1, 6, pools={"12": "gpu", "13": "default"},
                   pool_finished={"default": 6, "gpu": 0})]
    assert bound_reason(chain, 1, 0, "gpu") is None  # generation 1 had no gpu array
    why = bound_reason(chain, 2, 0, "gpu")
    assert why and "generation 2 (array(s) 12) finished no task of pool gpu" in why
    assert bound_reason(chain, 2, 0, "gpu", supplying=["12"]) is None  # still at work
    assert bound_reason(chain, 2, 1, "gpu") is None
    assert bound_reason(chain, 2, 9, "default") is None  # the default pool progressed
    chain.max_generations = 2
    assert "generation limit reached" in bound_reason(chain, 2, 9, "default")
    text = "\n".join(describe(chain))
    assert "pools" not in text.splitlines()[0]
    chain.pools = {"gpu": {"tasks": ["train"]}, "default": {}}
    text = "\n".join(describe(chain))
    assert text.startswith("chain (--until-done, pools gpu, default): running")
    assert "generation 2: array(s) 12 (gpu), 13 (default) (4 workers)" in text


def test_who_hands_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spent budget always; no work left only in a chain with pools; nobody while draining."""
    from jug.hooks import exit_checks

    plain = Chain("/p/wf.py", "/p/wf.jugdata", "/p", "slurm", {}, [], 4, None, 10, 300.0, 0.0)
    pooled = Chain("/p/wf.py", "/p/wf.jugdata", "/p", "slurm", {}, [], 4, None, 10, 300.0, 0.0,
                   pools={"gpu": {"tasks": ["train"]}, "default": {}})
    stop = tmp_path / "STOP"
    monkeypatch.setenv("JUG_EXIT_IF_FILE_EXISTS", str(stop))
    exit_checks.reset()
    try:
        exit_checks.exit_after_time(seconds=0)
        spent = "time limit of 0 s reached (JUG_MAX_HOURS/MINUTES/SECONDS)"
        assert handover_trigger(plain, ExitReason.BUDGET, spent) is Trigger.BUDGET
        assert handover_trigger(pooled, ExitReason.BUDGET, spent) is Trigger.BUDGET
        exit_checks.reset()
        exit_checks.exit_after_time(seconds=3600)
        assert handover_trigger(plain, ExitReason.NO_WORK, "") is None  # as before pools
        assert handover_trigger(pooled, ExitReason.NO_WORK, "") is Trigger.NO_WORK
        assert handover_trigger(pooled, ExitReason.BLOCKED, "") is None
        stop.touch()
        assert handover_trigger(pooled, ExitReason.NO_WORK, "") is None
    finally:
        exit_checks.reset()


def test_a_rejected_first_poll_submits_nothing_and_says_why(tmp_path: Path,
                                                            cluster: dict) -> None:
    from jug.hpc.job import SubmitError

    cluster["reject"] = "sbatch: error: invalid partition specified: gpu"
    with pytest.raises(SubmitError, match="nothing was submitted: the scheduler rejected"):
        start(tmp_path)
    store = select_store(str(tmp_path / "wf.jugdata"))
    chain = Chain.load(store, str(tmp_path / "wf.py"))
    assert chain.status == "stopped" and not chain.generations
    assert "invalid partition" in chain.reason


def test_a_no_work_poll_counts_an_array_with_a_waiting_hand_over_as_leaving(
        tmp_path: Path, cluster: dict) -> None:
    """Issue 20: a budget hand-over of the default pool found the lock busy (another pool's
    worker with no work left was polling) and was lost, and that poll counted the expiring
    default array as supply.  The hand-over's request waits in the record; every poll counts
    its array as leaving, and it is planned before the lock is released."""
    from jug.hpc.chain.records import Request

    store, chain, _ = start(tmp_path)
    first = chain.generations[0].arrays[0]
    running(cluster, first, 3)
    run_tasks(store, chain, "prep", 3)  # 3 prep tasks left for the default pool
    chain = Chain.load(store, chain.jugfile)
    chain.requests.append(Request(1, "default", (first, "0"), f"worker {first}_0",
                                  time.time()).doc())
    assert chain.save(store)
    r = plan_once(store, chain.jugfile, 1, f"worker {first}_2 (no work left)", Trigger.NO_WORK,
                  echo=lambda s: None, leaver=(first, "2"))
    chain = Chain.load(store, chain.jugfile)
    assert r.outcome == SUBMITTED and chain.requests == [], (r, chain)
    gen = chain.generations[1]
    [default] = [a for a, pool in gen.pools.items() if pool == "default"]
    sizes = {d["job_id"]: d["size"] for d in submitted_arrays(store, chain.jugfile).values()}
    assert sizes[default] == 3, (gen, sizes)  # none of the 3 running default workers stays
    assert len(chain.generations) == 2  # the request found its generation planned already
