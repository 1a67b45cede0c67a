"""The resubmit loop (``jug submit --watch``) against a scripted fake SLURM: no cluster needed.

Covers what the pure sizing tests cannot: one queue query per poll, lock reclaim judged by
the queue listing (never a live worker's lock), rejection reported once with back-off, drain,
and the exit codes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jug.backends import select_store
from jug.hpc import profiles as submit_profiles
from jug.hpc import sizing
from jug.hpc.job import JobPlan, submitted_arrays
from jug.hpc.watch import Watcher, WatchOptions
from jug.schedulers.base import PENDING, RUNNING, CommandFailed, QueueEntry
from jug.schedulers.slurm import Slurm

JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def double(x):
    return 2 * x

@TaskGenerator
def total(xs):
    return sum(xs)

parts = [double(i) for i in range(4)]
result = total(parts)
"""


class FakeSlurm(Slurm):
    """SLURM facts with scripted commands: the queue is a list the test edits."""

    def __init__(self, settings: dict) -> None:
        super().__init__(settings)
        self.entries: list[QueueEntry] = []
        self.calls: list[list[str]] = []
        self.queue_calls = 0
        self.next_id = 100
        self.reject: str | None = None

    def queue(self) -> list[QueueEntry]:
        self.queue_calls += 1
        return list(self.entries)

    def submit(self, script: str, cwd: str | None = None) -> str:
        if self.reject:
            raise CommandFailed(["sbatch", script], 1, "", self.reject, "slurm submit")
        self.next_id += 1
        size = int(Path(script).read_text().split("--array=0-")[1].split()[0].split("%")[0]) + 1
        self.entries.append(QueueEntry(str(self.next_id), list(range(size)), PENDING, "PENDING"))
        return str(self.next_id)

    def _run(self, cmd, what, cwd=None, timeout=120, check=True):  # type: ignore[override]
        self.calls.append(list(cmd))
        return None


@pytest.fixture
def loop(tmp_path: Path):
    """A Watcher over a fresh project, its fake scheduler and the printed lines."""
    return make_loop(tmp_path, JUGFILE)


def make_loop(tmp_path: Path, source: str):
    """A Watcher over ``source`` saved as mr.py in ``tmp_path``."""
    jf = tmp_path / "mr.py"
    jf.write_text(textwrap.dedent(source))
    settings, _ = submit_profiles.merge(str(jf), None, {
        "scheduler": "slurm", "walltime": "00:10:00", "margin": "60", "max_array_size": 1000,
        "pythonpath": "none"}, files=[])
    plan = JobPlan.from_settings(settings, str(jf), workdir=str(tmp_path))
    plan.scheduler = FakeSlurm(plan.scheduler.settings)
    store = select_store(plan.jugdir)
    lines: list[str] = []
    w = Watcher(plan, store, WatchOptions(max_workers=3, poll=0.01), echo=lines.append,
                sleep=lambda s: None)
    return w, plan.scheduler, lines


def finish_all(w: Watcher) -> None:
    """Run every task in-process (as workers would)."""
    for t in w.tasks:
        if not t.can_load():
            t.run()


def test_first_poll_submits_and_second_keeps(loop) -> None:
    w, sched, lines = loop
    r = w.poll()
    assert r.decision.submit == [3] and sched.queue_calls == 1
    assert r.counts.ready == 4 and r.counts.soon == 1
    assert len(submitted_arrays(w.store, w.plan.jugfile)) == 1
    r = w.poll()
    assert r.decision.action == sizing.KEEP and sched.queue_calls == 2
    assert "tasks: 1 waiting, 4 ready" in lines[-1] and "workers: 3 pending, 0 running" in lines[-1]


def test_done_exits_zero_and_cancels_leftover_pending(loop) -> None:
    w, sched, lines = loop
    w.poll()
    finish_all(w)
    assert w.run() == 0
    assert any(c[:2] == ["scancel", "--state=PENDING"] for c in sched.calls)
    assert lines[-1].startswith("done: all 5 tasks finished")


def test_only_reduce_left_cancels_pending_elements(loop) -> None:
    w, sched, lines = loop
    w.poll()
    for t in w.tasks[:4]:
        t.run()
    reduce_hash = w.tasks[4].hash()
    w.store.lock(reduce_hash)  # this process works on the reduce: a live local owner
    sched.entries = [QueueEntry("101", [0], RUNNING, "RUNNING"),
                     QueueEntry("101", [1, 2], PENDING, "PENDING")]
    r = w.poll()
    assert r.counts.running == 1 and r.decision.wanted == 1
    assert r.decision.cancel_pending == ["101"]
    assert ["scancel", "--state=PENDING", "101"] in sched.calls
    assert w.store.lock_owner(reduce_hash) is not None  # a live worker's lock stays


def owner(job_id: str, index: int, heartbeat: float) -> dict:
    """A lock owner on another node inside SLURM array element ``job_id_index``."""
    return {"host": "node-elsewhere", "pid": 4242, "started": heartbeat - 10,
            "locked_at": heartbeat, "heartbeat": heartbeat,
            "job": {"scheduler": "slurm", "job_id": str(int(job_id) + index + 1),
                    "array_job_id": job_id, "array_task_id": str(index),
                    "queue_id": f"{job_id}_{index}"}}


def test_lock_of_a_job_gone_from_the_queue_is_reclaimed(loop) -> None:
    import time

    w, sched, lines = loop
    w.poll()  # submits array 101 with elements 0-2
    h0, h1, h2 = (t.hash() for t in w.tasks[:3])
    now = time.time()
    w.store.lock(h0, owner=owner("101", 0, now))  # element 0 left the queue: dead
    w.store.lock(h1, owner=owner("101", 1, now))  # element 1 still runs: alive
    w.store.lock(h2, owner=owner("999", 0, now))  # an array this store never recorded
    sched.entries = [QueueEntry("101", [1], RUNNING, "RUNNING")]
    r = w.poll()
    assert r.reclaimed == 1 and w.store.lock_owner(h0) is None
    assert w.store.lock_owner(h1) is not None and w.store.lock_owner(h2) is not None
    assert any("reclaimed the lock of task mr.double" in ln and "no longer in the queue" in ln
               for ln in lines)
    assert r.counts.crashed == 1 and r.counts.running == 2


def test_stale_heartbeat_is_reclaimed_even_for_an_unknown_array(loop) -> None:
    import time

    w, sched, lines = loop
    w.poll()
    h = w.tasks[0].hash()
    w.store.lock(h, owner=owner("999", 0, time.time() - 1000))
    r = w.poll()
    assert r.reclaimed == 1 and w.store.lock_owner(h) is None
    assert any("no heartbeat" in ln for ln in lines)


def test_rejection_is_reported_once_then_backs_off(loop) -> None:
    w, sched, lines = loop
    sched.reject = "sbatch: error: QOSMaxSubmitJobPerUserLimit"
    w.poll()
    reports = [ln for ln in lines if "rejected the submission" in ln]
    assert len(reports) == 1 and "QOSMaxSubmitJobPerUserLimit" in reports[0]
    w.poll()  # within the back-off: no new attempt
    assert "submission postponed" in lines[-1]
    w.submit_retry_at = 0
    w.poll()  # retried, same words: not repeated in full
    assert len([ln for ln in lines if "rejected the submission" in ln]) == 1
    assert "still rejected" in lines[-1]
    sched.reject = None
    w.submit_retry_at = 0
    r = w.poll()
    assert r.decision.submit == [3] and any("accepted the submission again" in ln for ln in lines)


def test_queue_errors_back_off_and_recover(loop) -> None:
    w, sched, lines = loop
    sleeps: list[float] = []
    w.sleep = sleeps.append
    real = sched.queue
    fails = iter([True, True, False])

    def flaky() -> list[QueueEntry]:
        if next(fails, False):
            raise CommandFailed(["squeue"], 1, "", "slurm_load_jobs error: timeout", "queue")
        finish_all(w)
        return real()

    sched.queue = flaky  # type: ignore[method-assign]
    assert w.run() == 0
    assert sleeps[:2] == [0.02, 0.04]  # doubled each time
    assert sum("scheduler error" in ln for ln in lines) == 1  # the same error shown once
    assert any("answers again" in ln for ln in lines)


def test_stop_file_drains_then_exits(loop) -> None:
    w, sched, lines = loop
    w.poll()
    Path(w.plan.stop_file).touch()
    sched.entries = [QueueEntry("101", [0], RUNNING, "RUNNING"),
                     QueueEntry("101", [1, 2], PENDING, "PENDING")]
    r = w.poll()
    assert r.decision.action == sizing.DRAIN and ["scancel", "--state=PENDING", "101"] in sched.calls
    sched.entries = []
    assert w.run() == sizing.EXIT_DRAINED
    assert "drained" in lines[-1] and "rm " in lines[-1]


def test_failed_tasks_exit_non_zero_naming_them(loop, tmp_path: Path) -> None:
    w, sched, lines = loop
    w.poll()
    for t in w.tasks[1:4]:
        t.run()
    w.store.fail(w.tasks[0].hash(), {"task": w.tasks[0].name, "error": "boom"})
    sched.entries = []
    assert w.run() == 1
    assert "mr.double" in lines[-2] or "mr.double" in lines[-1]
    assert "jug cleanup --failed-only" in lines[-1]


def test_once_polls_once(loop) -> None:
    w, sched, lines = loop
    w.opts.once = True
    assert w.run() == 0 and sched.queue_calls == 1


def test_interrupt_leaves_workers_and_says_how_to_cancel(loop) -> None:
    w, sched, lines = loop

    def boom(_s: float) -> None:
        raise KeyboardInterrupt

    w.sleep = boom
    assert w.run() == 130
    assert "jug submit --cancel" in lines[-1] and "keep running" in lines[-1]


def test_idle_running_workers_stop_while_only_the_reduce_runs(loop) -> None:
    import time

    w, sched, lines = loop
    w.poll()
    for t in w.tasks[:4]:
        t.run()
    w.store.lock(w.tasks[4].hash(), owner=owner("101", 0, time.time()))
    sched.entries = [QueueEntry("101", [0], RUNNING, "RUNNING"),
                     QueueEntry("101", [1], RUNNING, "RUNNING"),
                     QueueEntry("101", [2], RUNNING, "RUNNING")]
    r = w.poll()
    assert r.decision.cancel_idle == {"101": 2} and r.reclaimed == 0
    assert ["scancel", "101_1", "101_2"] in sched.calls
    assert "stopped idle worker(s) 101_1, 101_2" in lines[-1]


def test_one_loop_per_jugfile(loop) -> None:
    import time

    from jug.hpc.watch import WATCH_NAMESPACE

    w, sched, lines = loop
    name = w._record_name()
    w.store.write_doc(WATCH_NAMESPACE, name, {"host": "login2", "pid": 77, "started": 1.0,
                                              "heartbeat": time.time(), "poll": 60})
    assert w.run() == 2 and "another jug submit --watch (pid 77 on login2)" in lines[-1]
    assert sched.queue_calls == 0
    # a loop that stopped beating long ago does not block a new one
    w.store.write_doc(WATCH_NAMESPACE, name, {"host": "login2", "pid": 77, "started": 1.0,
                                              "heartbeat": time.time() - 3600, "poll": 60})
    w.opts.once = True
    assert w.run() == 0 and sched.queue_calls == 1
    assert name not in w.store.read_docs(WATCH_NAMESPACE)  # released at exit


def test_barrier_reloads_the_jugfile_until_it_passes(tmp_path: Path) -> None:
    w, sched, lines = make_loop(tmp_path, """
        from jug import TaskGenerator, barrier

        @TaskGenerator
        def one(i):
            return i

        first = [one(i) for i in range(2)]
        barrier()
        second = [one(10 + i) for i in range(3)]
    """)
    r = w.poll()
    assert r.counts.incomplete and r.counts.ready == 2 and r.decision.exit_code is None
    assert "stopped at a barrier" in lines[-1]
    finish_all(w)
    r = w.poll()  # reloaded: the barrier passes, the second stage appears
    assert not r.counts.incomplete and (r.counts.ready, r.counts.finished) == (3, 2)
    finish_all(w)
    assert w.run() == 0


def test_store_errors_back_off_like_scheduler_errors(loop) -> None:
    from jug.backends import StoreError

    w, sched, lines = loop
    sleeps: list[float] = []
    w.sleep = sleeps.append
    real = w.store.list_locks
    fails = iter([True])

    def flaky() -> dict:
        if next(fails, False):
            raise StoreError("redis://db: connection refused")
        finish_all(w)
        return real()

    w.store.list_locks = flaky  # type: ignore[method-assign]
    assert w.run() == 0 and sleeps[0] == 0.02
    assert any("store error" in ln and "connection refused" in ln for ln in lines)


def test_a_store_that_refuses_the_probe_is_retried_and_nothing_submitted(loop) -> None:
    """The store probe before each submission fails once: no array, a retry, then one."""
    w, sched, lines = loop
    w.sleep = lambda s: None
    real = w.store.write_doc
    fails = iter([True])

    def flaky(namespace: str, name: str, doc: dict) -> None:
        if name.startswith("probe-") and next(fails, False):
            raise OSError(30, "Read-only file system")
        real(namespace, name, doc)

    w.store.write_doc = flaky  # type: ignore[method-assign]
    w.opts.once = True
    assert w.run() == 1 and sched.next_id == 100  # nothing was submitted
    assert any("store error" in ln and "Read-only file system" in ln for ln in lines)
    w.opts.once = False
    r = w.poll()
    assert r.decision.submit == [3] and sched.next_id == 101
    assert len(submitted_arrays(w.store, w.plan.jugfile)) == 1
