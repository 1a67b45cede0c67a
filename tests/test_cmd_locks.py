"""``jug.state.locks``: when is a lock owner provably dead, when believed alive."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from jug.backends.owner import current_owner
from jug.state.locks import HOST, judge, owner_is_alive, owner_is_dead

NOW = 1_000_000.0


def _gone_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_this_process_is_alive_whatever_its_heartbeat() -> None:
    me = current_owner()
    me["heartbeat"] = me["locked_at"] = 0.0  # ancient heartbeat
    assert owner_is_dead(me, time.time(), stale_after=1) is None
    assert "is running on" in (owner_is_alive(me, time.time(), 1) or "")


def test_local_pid_gone_or_reused() -> None:
    owner = {"host": HOST, "pid": _gone_pid(), "started": time.time(), "heartbeat": time.time()}
    assert "no longer exists" in (owner_is_dead(owner, time.time(), 1e9) or "")
    reused = {"host": HOST, "pid": os.getpid(),
              "started": psutil.Process().create_time() - 3600, "heartbeat": time.time()}
    assert "started after" in (owner_is_dead(reused, time.time(), 1e9) or "")
    assert owner_is_alive(reused, time.time(), 1e9) is None


def test_other_host_heartbeat_threshold() -> None:
    owner = {"host": "node17", "pid": os.getpid(), "heartbeat": NOW - 100, "locked_at": NOW - 200}
    assert owner_is_dead(owner, NOW, stale_after=300) is None  # pid of another machine: moot
    assert owner_is_alive(owner, NOW, 300) == "heartbeat 100s ago"
    assert "no heartbeat for 100s" in (owner_is_dead(owner, NOW, stale_after=50) or "")
    assert owner_is_dead(owner, NOW, stale_after=0) is None  # 0 disables the heartbeat test


def test_batch_job_no_longer_queued() -> None:
    job = {"scheduler": "slurm", "job_id": "101", "queue_id": "100_3"}
    owner = {"host": "node17", "pid": 5, "heartbeat": NOW, "job": job}
    assert owner_is_dead(owner, NOW, 300, live_queue_ids=None) is None  # queue not consulted
    assert owner_is_dead(owner, NOW, 300, live_queue_ids={"100_3", "100_4"}) is None
    assert owner_is_dead(owner, NOW, 300, live_queue_ids={"101"}) is None
    assert owner_is_dead(owner, NOW, 300, live_queue_ids={"100_4"}) == \
        "slurm job 100_3 is no longer in the queue"


def test_unknown_owner_is_neither() -> None:
    for owner in (None, {}, {"unreadable": "garbage"}, {"host": HOST, "pid": "x"}):
        assert owner_is_dead(owner, NOW, 10) is None
        assert owner_is_alive(owner, NOW, 10) is None
    verdicts = {v.key: v for v in judge({"k": {}, "d": {"host": "n", "heartbeat": 0.0}}, NOW, 10)}
    assert not verdicts["k"].removable(strict=True) and verdicts["k"].removable(strict=False)
    assert verdicts["d"].removable(strict=True)


def test_owner_batch_job_is_read_in_one_place() -> None:
    from jug.backends.owner import BatchJob, owner_summary

    pbs = {"host": "n1", "pid": 7, "job": {"scheduler": "pbs", "job_id": "12[3].srv",
                                           "array_job_id": "12[].srv", "array_task_id": "3",
                                           "queue_id": "12[3].srv"}}
    job = BatchJob.of(pbs)
    assert job is not None and job.ids == ["12[3].srv", "12[3].srv"] and job.array_head == "12"
    assert BatchJob.of({"host": "n1", "pid": 7, "job": None}) is None and BatchJob.of(None) is None
    assert owner_summary(pbs) == "n1:7 (pbs 12[3].srv)"
