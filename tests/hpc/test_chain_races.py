"""``--until-done`` when things happen at once (issue 20, "The --until-done chain stalls or
escapes a cancel"): a cancel during a plan, two planners, a busy planner lock, a killed lock
holder, scheduler errors, workers that started late.

In-process and deterministic: a scripted SLURM queue (its submit and queue calls are the
pause points where the test does what another process would), two handles on one store
(file store and real Redis), and ``plan_once`` as a worker or the planner job calls it.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from jug.backends import select_store
from jug.hpc import job as job_module
from jug.hpc.chain import lock as lock_module
from jug.hpc.chain import planning
from jug.hpc.chain import start as start_module
from jug.hpc.chain.lock import PlannerLock, lock_key
from jug.hpc.chain.planning import SUBMITTED, plan_once
from jug.hpc.chain.records import CANCELLED, RUNNING, STOPPED, Chain, Trigger
from jug.hpc.chain.start import cancel, start
from jug.hpc.job import JobPlan, submitted_arrays
from jug.hpc.watch import WatchOptions
from jug.jugfile import load
from jug.schedulers import base as sched_base
from jug.schedulers.base import PENDING, CommandFailed, QueueEntry
from jug.schedulers.base import RUNNING as Q_RUNNING
from jug.schedulers.slurm import Slurm

JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def double(x):
    return 2 * x

parts = [double(i) for i in range(12)]
"""

TIMEOUT = "slurm_load_jobs error: Socket timed out on send/recv operation"
SBATCH_TIMEOUT = "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"


class ScriptedSlurm(Slurm):
    """SLURM facts, one queue every adapter shares (as on a cluster), scripted commands.

    ``q["on_submit"]`` / ``q["on_queue"]``: called once at that point (another process's
    turn); ``q["queue_errors"]`` / ``q["submit_errors"]``: stderr of the next failing calls.
    """

    q: dict[str, Any] = {}

    def queue(self) -> list[QueueEntry]:
        q = self.q
        q["queries"] += 1
        _turn(q, "on_queue")
        if q["queue_errors"]:
            raise CommandFailed(["squeue"], 1, "", q["queue_errors"].pop(0), "slurm queue query")
        return [e for e in q["entries"] if e.array_id not in q["cancelled"]]

    def submit(self, script: str, cwd: str | None = None) -> str:
        q = self.q
        text = Path(script).read_text()
        if q["submit_errors"]:
            raise CommandFailed(["sbatch", script], 1, "", q["submit_errors"].pop(0),
                                "slurm submit")
        q["next"] += 1
        job_id = str(q["next"])
        if "--array=0-" in text:
            size = int(text.split("--array=0-")[1].split()[0].split("%")[0]) + 1
            q["entries"].append(QueueEntry(job_id, list(range(size)), PENDING, "PENDING"))
            q["arrays"].append(job_id)
        else:  # a planner job: held, pending until the test says otherwise
            q["planners"].append(job_id)
            q["entries"].append(QueueEntry(job_id, None, PENDING, "PENDING"))
        q["scripts"][job_id] = text
        _turn(q, "on_submit", job_id)
        return job_id

    def _run(self, cmd, what, cwd=None, timeout=120, check=True):  # type: ignore[override]
        self.q["calls"].append(list(cmd))
        if cmd[0] == "scancel":
            self.q["cancelled"].update(c for c in cmd[1:] if not c.startswith("-"))


def _turn(q: dict, point: str, *args: Any) -> None:
    """Run the test's one-shot action at ``point``, if any."""
    action = q.pop(point, None)
    if action is not None:
        action(*args)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The scripted queue; every adapter (also one rebuilt from the chain record) uses it."""
    ScriptedSlurm.q = {"entries": [], "next": 100, "queries": 0, "scripts": {}, "calls": [],
                       "arrays": [], "planners": [], "cancelled": set(), "queue_errors": [],
                       "submit_errors": []}
    make = lambda name, s=None: ScriptedSlurm(s or {})  # noqa: E731
    for module in (job_module, planning, start_module):
        monkeypatch.setattr(module, "get_scheduler", make)
    monkeypatch.setattr(planning, "RETRY_FIRST", 0.01, raising=False)
    return ScriptedSlurm.q


@pytest.fixture(params=["file", "redis"])
def jugdir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the chain's store lives: a folder, or a real Redis."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return str(tmp_path / "work.jugdata")


def new_chain(tmp_path: Path, jugdir: str, workers: int = 2, **extra: Any) -> tuple[Any, Chain]:
    """A project with 12 tasks and its chain (generation 1 submitted, 2 tasks finished)."""
    jf = tmp_path / "work.py"
    jf.write_text(textwrap.dedent(JUGFILE))
    settings = {"scheduler": "slurm", "walltime": "00:10:00", "margin": "60",
                "max_array_size": 1000, "pythonpath": "none", "workers": workers,
                "jugdir": jugdir, **extra}
    plan = JobPlan.from_settings(settings, str(jf), workdir=str(tmp_path))
    store = select_store(jugdir)
    chain = start(plan, store, WatchOptions(max_workers=workers), None, {}, echo=lambda s: None)
    for t in load(chain.jugfile, store).tasks[:2]:  # generation 1 made progress
        t.run()
    return store, chain


def ended(q: dict, array: str) -> None:
    """Every element of ``array`` has left the queue (its workers are gone)."""
    q["entries"] = [e for e in q["entries"] if e.array_id != array]


def alive(q: dict) -> set[str]:
    """Arrays and planner jobs still in the scripted queue (not cancelled)."""
    return {e.array_id for e in q["entries"]} - q["cancelled"]


def quiet(*args: Any, **kw: Any) -> Any:
    """``plan_once`` without its poll line."""
    return plan_once(*args, echo=lambda s: None, **kw)


# -- item 4: jug submit --cancel wins ------------------------------------------------------
def test_a_cancel_before_the_planner_submits_stops_the_submission(
        tmp_path: Path, jugdir: str, queue: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner re-reads the record before it submits: a cancel that came meanwhile
    (here: while it asked the queue) means nothing is submitted at all."""
    monkeypatch.setattr("jug.hpc.chain.start.LOCK_WAIT", 1.0, raising=False)
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    other = select_store(jugdir)  # jug submit --cancel, another process
    queue["on_queue"] = lambda: cancel(other, chain.jugfile, {}, echo=lambda s: None)
    submitted = len(queue["arrays"])
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER)
    assert len(queue["arrays"]) == submitted, r  # no new array
    record = Chain.load(other, chain.jugfile)
    assert record.status == CANCELLED and len(record.generations) == 1, record
    assert r.outcome != SUBMITTED and "cancelled" in r.message, r


def test_a_cancel_after_the_planner_submitted_cancels_what_it_submitted(
        tmp_path: Path, jugdir: str, queue: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel lands between the planner's submission and its save: the planner's older
    copy never brings the chain back to life, and it cancels its own new jobs."""
    monkeypatch.setattr("jug.hpc.chain.start.LOCK_WAIT", 1.0, raising=False)
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    other = select_store(jugdir)

    def cancel_at_planner_job(job_id: str) -> None:
        if job_id in queue["planners"]:  # the new generation's planner job: then cancel
            cancel(other, chain.jugfile, {}, echo=lambda s: None)
        else:
            queue["on_submit"] = cancel_at_planner_job

    queue["on_submit"] = cancel_at_planner_job
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER)
    record = Chain.load(other, chain.jugfile)
    assert record.status == CANCELLED, record
    new_array, new_planner = queue["arrays"][-1], queue["planners"][-1]
    assert new_array != chain.generations[0].arrays[0]  # it did submit, then withdrew
    assert new_array in queue["cancelled"] and new_planner in queue["cancelled"], queue["calls"]
    assert not alive(queue), alive(queue)
    assert new_array not in {d["job_id"] for d in submitted_arrays(other, chain.jugfile).values()}
    assert "cancelled" in r.message and r.outcome != SUBMITTED, r


# -- item 5: two planners never both submit --------------------------------------------------
def test_two_planners_one_generation(tmp_path: Path, jugdir: str, queue: dict) -> None:
    """Planner A's lock is taken from it in the middle of its poll (judged dead elsewhere);
    planner B plans generation 2.  A's save then fails its compare-and-set: A withdraws its
    own array and planner job, and the record keeps B's generation (its workers hand over,
    its planner job is known)."""
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    other = select_store(jugdir)

    def b_plans(job_id: str) -> None:  # A just submitted its array
        other.force_unlock(lock_key(chain.jugfile))  # A's lock reclaimed by another host
        rb = quiet(other, chain.jugfile, 1, "planner job B", Trigger.PLANNER)
        assert rb.outcome == SUBMITTED, rb

    queue["on_submit"] = b_plans
    ra = quiet(store, chain.jugfile, 1, "planner job A", Trigger.PLANNER)
    record = Chain.load(other, chain.jugfile)
    assert [g.n for g in record.generations] == [1, 2], record.generations
    gen2 = record.generations[1]
    assert gen2.by == "planner job B", gen2
    a_array = queue["arrays"][1]  # A's array came first, B's second
    assert a_array not in gen2.arrays and a_array in queue["cancelled"], (gen2, queue["calls"])
    recorded = {d["job_id"] for d in submitted_arrays(other, chain.jugfile).values()}
    assert recorded == set(record.arrays()), (recorded, record.arrays())
    assert set(queue["planners"]) - queue["cancelled"] == set(record.helpers())
    assert ra.outcome != SUBMITTED, ra


# -- item 2: the planner lock's heartbeat, and its dead owner reclaimed ------------------------
def test_the_planner_lock_is_heartbeaten_while_held(tmp_path: Path, jugdir: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "HEARTBEAT_EVERY", 0.1, raising=False)
    store = select_store(jugdir)
    with PlannerLock(store, "/p/work.py") as got:
        assert got
        first = store.lock_owner(lock_key("/p/work.py"))["heartbeat"]
        time.sleep(0.6)
        later = store.lock_owner(lock_key("/p/work.py"))["heartbeat"]
    assert later > first + 0.2, (first, later)
    assert not store.is_locked(lock_key("/p/work.py"))


def elsewhere(heartbeat: float, job: dict | None = None) -> dict:
    """A lock owner on another host (its pid cannot be checked from here)."""
    return {"host": "node-elsewhere", "pid": 4242, "started": heartbeat - 10,
            "locked_at": heartbeat, "heartbeat": heartbeat, "job": job}


def test_a_planner_lock_whose_heartbeat_stopped_is_reclaimed_within_the_wait(
        jugdir: str) -> None:
    """A hand-over killed at walltime leaves its lock: 90 s without a heartbeat is dead for
    a lock that beats every few seconds (a task lock waits 300 s), well inside the wait of
    a planner job, which must not give up and leave the chain without a planner."""
    store = select_store(jugdir)
    assert lock_module.LOCK_STALE < lock_module.LOCK_WAIT
    store.lock(lock_key("/p/work.py"), elsewhere(time.time() - 90))
    with PlannerLock(store, "/p/work.py") as got:
        assert got


def test_a_planner_lock_whose_batch_job_left_the_queue_is_reclaimed_at_once(
        jugdir: str, queue: dict) -> None:
    store = select_store(jugdir)
    job = {"scheduler": "slurm", "job_id": "778", "array_job_id": "777",
           "array_task_id": "0", "queue_id": "777_0"}
    store.lock(lock_key("/p/work.py"), elsewhere(time.time(), job))
    sched = ScriptedSlurm({})
    queue["entries"] = [QueueEntry("777", [0], Q_RUNNING, "RUNNING")]
    assert not PlannerLock(store, "/p/work.py", scheduler=sched).acquire()  # still running
    queue["entries"] = []
    with PlannerLock(store, "/p/work.py", scheduler=sched) as got:
        assert got  # its job is gone: dead, whatever its heartbeat says


# -- item 3: transient scheduler errors ------------------------------------------------------
@pytest.mark.parametrize("adapter,text,transient", [
    ("slurm", TIMEOUT, True),
    ("slurm", SBATCH_TIMEOUT, True),
    ("slurm", "squeue: error: Unable to contact slurm controller (connect failure)", True),
    ("slurm", "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying",
     True),
    ("slurm", "sbatch: error: Batch job submission failed: Invalid generic resource (gres) "
     "specification", False),
    ("slurm", "sbatch: error: invalid partition specified: gpu", False),
    ("pbs", "qstat: cannot connect to server pbs01 (errno=111)", True),
    ("pbs", "qsub: Job exceeds queue resource limits MSG=cannot satisfy queue max walltime "
     "requirement", False),
    ("sge", "error: commlib error: got select error (Connection refused)\nunable to contact "
     "qmaster using port 6444 on host \"sge01\"", True),
    ("sge", "Unable to run job: unknown resource \"gpu\"\nExiting.", False),
])
def test_adapters_tell_errors_that_go_away_from_those_that_do_not(
        adapter: str, text: str, transient: bool) -> None:
    from jug.schedulers import get_scheduler
    from jug.schedulers.base import ErrorKind

    sched = get_scheduler(adapter)
    err = CommandFailed(["cmd"], 1, "", text, "test")
    assert sched.error_kind(err) is (ErrorKind.TRANSIENT if transient else ErrorKind.PERMANENT)
    timeout = sched_base.CommandTimeout("squeue did not answer in 120 s")
    assert sched.error_kind(timeout) is ErrorKind.TRANSIENT
    assert sched.error_kind(sched_base.CommandMissing("no sbatch")) is ErrorKind.PERMANENT


def test_a_queue_that_times_out_is_asked_again(tmp_path: Path, jugdir: str,
                                              queue: dict) -> None:
    """squeue timing out made the planner exit 1, the chain 'running' with no planner."""
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    queue["queue_errors"] = [TIMEOUT, TIMEOUT]
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
              deadline=time.time() + 60)
    assert r.outcome == SUBMITTED, r
    record = Chain.load(store, chain.jugfile)
    assert record.status == RUNNING and len(record.generations) == 2, record


def test_a_submission_that_times_out_is_tried_again_not_the_end(tmp_path: Path, jugdir: str,
                                                               queue: dict) -> None:
    """`sbatch: Socket timed out` marked the chain stopped for good."""
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    queue["submit_errors"] = [SBATCH_TIMEOUT]
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
              deadline=time.time() + 60)
    record = Chain.load(store, chain.jugfile)
    assert r.outcome == SUBMITTED and record.status == RUNNING, (r, record)
    assert len(record.generations) == 2


def test_a_rejection_that_will_not_go_away_stops_the_chain_saying_why(
        tmp_path: Path, jugdir: str, queue: dict) -> None:
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    bad = "sbatch: error: Batch job submission failed: Invalid account or account/partition"
    queue["submit_errors"] = [bad] * 5
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
              deadline=time.time() + 60)
    record = Chain.load(store, chain.jugfile)
    assert record.status == STOPPED and "Invalid account" in record.reason, (r, record)
    assert "will not go away" in record.reason or "rejected" in record.reason
    assert len(queue["submit_errors"]) == 4  # asked once: retrying would not help


def test_a_planner_out_of_time_re_arms_a_planner(tmp_path: Path, jugdir: str,
                                                 queue: dict) -> None:
    """The scheduler still fails when the planner job's walltime runs out: it submits a new
    planner job (the chain keeps a planner), and after a few in a row the chain stops."""
    store, chain = new_chain(tmp_path, jugdir)
    ended(queue, chain.generations[0].arrays[0])
    queue["queue_errors"] = [TIMEOUT] * 1000
    r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
              deadline=time.time() + 0.3)
    record = Chain.load(store, chain.jugfile)
    assert record.status == RUNNING, (r, record)
    assert len(record.generations[0].rearmed) == 1, record.generations
    assert "Socket timed out" in r.message, r
    for _ in range(planning.MAX_ERROR_REARMS):
        r = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
                  deadline=time.time() + 0.2)
    record = Chain.load(store, chain.jugfile)
    assert record.status == STOPPED and "Socket timed out" in record.reason, (r, record)


# -- item 7: workers that started late keep their budget --------------------------------------
def running_owner(array: str, index: int, started: float) -> dict:
    """The lock owner record of a worker of ``array`` (another node) that started then."""
    return {"host": "node-elsewhere", "pid": 4242 + index, "started": started,
            "locked_at": time.time(), "heartbeat": time.time(),
            "job": {"scheduler": "slurm", "job_id": str(900 + index), "array_job_id": array,
                    "array_task_id": str(index), "queue_id": f"{array}_{index}"}}


def test_a_worker_that_started_late_is_not_counted_as_leaving(tmp_path: Path, jugdir: str,
                                                              queue: dict) -> None:
    """Element 0's budget is spent (it hands over); element 1 started 30 s ago and has
    most of its 540 s budget left: it is supply, so one new worker is enough, not two."""
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    queue["entries"] = [QueueEntry(first, [0, 1], Q_RUNNING, "RUNNING")]
    tasks = load(chain.jugfile, store).tasks
    store.lock(tasks[5].hash(), running_owner(first, 1, time.time() - 30))
    r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
              leaver=(first, "0"))
    assert r.outcome == SUBMITTED, r
    gen2 = Chain.load(store, chain.jugfile).generations[1]
    assert gen2.workers == 1, gen2


def test_late_is_judged_against_the_worker_handing_over(tmp_path: Path, jugdir: str,
                                                        queue: dict) -> None:
    """The hand-over says when its worker started by its lock owner record's clock, which
    runs behind the budget's (it starts when jug has loaded): element 0's record says 300 s
    ago though its 540 s budget is spent.  Element 1 started 100 s after it: leaving as
    well (by its own record it would look like it had 340 s left); element 2 started 290 s
    after it: not leaving."""
    store, chain = new_chain(tmp_path, jugdir, workers=3)
    first = chain.generations[0].arrays[0]
    queue["entries"] = [QueueEntry(first, [0, 1, 2], Q_RUNNING, "RUNNING")]
    tasks = load(chain.jugfile, store).tasks
    t0 = time.time() - 300
    store.lock(tasks[5].hash(), running_owner(first, 1, t0 + 100))
    store.lock(tasks[6].hash(), running_owner(first, 2, t0 + 290))
    r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
              leaver=(first, "0"), started=t0)
    gen2 = Chain.load(store, chain.jugfile).generations[1]
    assert r.outcome == SUBMITTED and gen2.workers == 2, (r, gen2)


def test_workers_whose_budget_is_spent_are_still_counted_as_leaving(
        tmp_path: Path, jugdir: str, queue: dict) -> None:
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    queue["entries"] = [QueueEntry(first, [0, 1], Q_RUNNING, "RUNNING")]
    tasks = load(chain.jugfile, store).tasks
    store.lock(tasks[5].hash(), running_owner(first, 1, time.time() - 590))
    # the lock of element 0's hand-over (here held by a process of that element that
    # started just now) is no task: it says nothing about who stays
    hand_over = running_owner(first, 0, time.time())
    real_acquire = PlannerLock.acquire

    def acquire_as_element_0(self: PlannerLock) -> bool:
        if not self.store.lock(self.key, hand_over):
            return real_acquire(self)
        self.held = True
        return True

    PlannerLock.acquire = acquire_as_element_0  # type: ignore[method-assign]
    try:
        r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
                  leaver=(first, "0"), started=time.time() - 590)
    finally:
        PlannerLock.acquire = real_acquire  # type: ignore[method-assign]
        store.force_unlock(lock_key(chain.jugfile))
    gen2 = Chain.load(store, chain.jugfile).generations[1]
    assert r.outcome == SUBMITTED and gen2.workers == 2, (r, gen2)


# -- item 6: a budget hand-over while the lock is busy --------------------------------------
def test_a_budget_hand_over_while_the_lock_is_busy_is_planned_by_the_holder(
        tmp_path: Path, jugdir: str, queue: dict) -> None:
    """The lock holder (here the planner job of a re-armed generation, polling) is busy when
    generation 1's worker hands over: the worker leaves a request; the holder plans it
    before it releases the lock, counting generation 1's workers as leaving."""
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    queue["entries"] = [QueueEntry(first, [0, 1], Q_RUNNING, "RUNNING")]
    worker = select_store(jugdir)
    seen: list[Any] = []

    def hand_over_now() -> None:  # the holder asks the queue; a worker of gen 1 leaves
        seen.append(quiet(worker, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
                          leaver=(first, "0")))

    queue["on_queue"] = hand_over_now
    holder = quiet(store, chain.jugfile, 1, "planner job test", Trigger.PLANNER)
    assert seen and seen[0].outcome == "requested", seen
    record = Chain.load(store, chain.jugfile)
    assert len(record.generations) == 2, (holder, record)
    gen2 = record.generations[1]
    assert gen2.after == 1 and gen2.workers == 2 and "worker" in gen2.by, gen2
    assert record.requests == [] and not store.is_locked(lock_key(chain.jugfile))


def test_a_request_left_after_the_holder_looked_is_planned_by_its_writer(
        tmp_path: Path, jugdir: str, queue: dict) -> None:
    """No gap: a request written just as the holder releases is taken by the writer itself
    (it tries the lock once more after writing)."""
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    queue["entries"] = [QueueEntry(first, [0, 1], Q_RUNNING, "RUNNING")]
    real = PlannerLock.acquire
    tries: list[int] = []

    def busy_once(self: PlannerLock) -> bool:
        tries.append(1)
        return False if len(tries) == 1 else real(self)

    PlannerLock.acquire = busy_once  # type: ignore[method-assign]
    try:
        r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
                  leaver=(first, "0"))
    finally:
        PlannerLock.acquire = real  # type: ignore[method-assign]
    record = Chain.load(store, chain.jugfile)
    assert r.outcome == SUBMITTED and len(record.generations) == 2, (r, record)
    assert record.requests == []


def test_requests_of_a_cancelled_chain_are_dropped(tmp_path: Path, jugdir: str,
                                                   queue: dict) -> None:
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    cancel(select_store(jugdir), chain.jugfile, {}, echo=lambda s: None)
    r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET, leaver=(first, "0"))
    assert r.outcome == "skipped" and Chain.load(store, chain.jugfile).requests == []



def test_a_planner_job_that_finds_the_lock_busy_leaves_a_request(tmp_path: Path, jugdir: str,
                                                                 queue: dict) -> None:
    """The holder is a hand-over asking a scheduler that stopped answering again, longer
    than the planner job waits: the planner job leaves a request instead of exiting
    "busy"; the holder, out of time, defers to the planner job, then plans the request,
    which re-arms a planner job (the chain keeps one)."""
    store, chain = new_chain(tmp_path, jugdir)
    first = chain.generations[0].arrays[0]
    queue["entries"].append(QueueEntry(first, [0, 1], Q_RUNNING, "RUNNING"))
    planner_job = select_store(jugdir)
    seen: list[Any] = []

    def planner_job_now() -> None:
        seen.append(quiet(planner_job, chain.jugfile, 1, "planner job test", Trigger.PLANNER,
                          wait=0.3))
        queue["queue_errors"] = [TIMEOUT] * 100  # from now on the scheduler does not answer

    queue["on_queue"] = planner_job_now
    r = quiet(store, chain.jugfile, 1, f"worker {first}_0", Trigger.BUDGET,
              leaver=(first, "0"), deadline=time.time() + 0.5)
    assert seen and seen[0].outcome == "requested", seen
    assert r.outcome == "deferred" and "planner job of generation 1" in r.message, r
    record = Chain.load(store, chain.jugfile)
    assert record.status == RUNNING and record.requests == [], record
    assert len(record.generations[0].rearmed) == 1, record.generations
