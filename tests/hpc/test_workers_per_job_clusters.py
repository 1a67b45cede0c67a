"""``jug submit --workers-per-job K`` on the REAL single-node SLURM cluster.

The shared test node advertises 2 CPUs, so an element asking for 3 (``--cpus-per-task=3``,
what ``--workers-per-job 3`` renders, checked in tests/hpc/test_submit_golden.py) could
never start: these tests add ``--directive=--cpus-per-task=1`` (sbatch takes the last
value), which leaves the rest of the job exactly as rendered: ``jug execute -j 3`` in each
of the array's 2 elements.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from support import fast_idle_workers, wait_until

from jug.backends import select_store
from jug.hpc.job import submitted_arrays
from jug.schedulers import get_scheduler
from jug.state.shifts import read_records

pytestmark = pytest.mark.slurm

MAPREDUCE = """
import os, time
from jug import TaskGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
SIDE = os.path.join(HERE, "side")
GATE = os.path.join(HERE, "gate")
os.makedirs(SIDE, exist_ok=True)

def note(what):
    fd = os.open(os.path.join(SIDE, what), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"x")
    os.close(fd)

@TaskGenerator
def square(i):
    while os.environ.get("WAIT_GATE") and not os.path.exists(GATE):
        time.sleep(0.05)
    time.sleep(0.3)
    note(f"square{i}")
    return i * i

@TaskGenerator
def total(xs):
    note("total")
    return sum(xs)

result = total([square(i) for i in range(18)])
"""


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "mr.py").write_text(MAPREDUCE)
    os.chmod(tmp_path, 0o755)
    fast_idle_workers(tmp_path)
    return proj


def _submit(jug, proj: Path, *extra: str, env: dict | None = None) -> list[str]:
    p = jug("submit", "--scheduler", "slurm", "--workers", "6", "--workers-per-job", "3",
            "--directive=--cpus-per-task=1", "--walltime", "0:10:00", *extra, "mr.py",
            cwd=proj, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 jobs x 3 workers" in p.stdout
    store = select_store(str(proj / "mr.jugdata"))
    return [d["job_id"] for d in submitted_arrays(store, str(proj / "mr.py")).values()]


def _wait_gone(ids: list[str], timeout: float = 120) -> None:
    s = get_scheduler("slurm")
    wait_until(lambda: all(c.alive == 0 for c in s.query(ids).values()), timeout,
               f"slurm arrays {ids} to leave the queue")


def _notes(proj: Path) -> dict[str, int]:
    return {p.name: len(p.read_bytes()) for p in (proj / "side").iterdir()}


def _logs(proj: Path) -> str:
    return "\n".join(f.read_text() for f in (proj / "logs").glob("*.out"))


def test_two_jobs_of_three_workers_finish_a_map_reduce_once(jug, proj: Path,
                                                            slurm_cluster: str) -> None:
    ids = _submit(jug, proj)
    assert len(ids) == 1
    _wait_gone(ids)
    assert _notes(proj) == {**{f"square{i}": 1 for i in range(18)}, "total": 1}
    store = select_store(str(proj / "mr.jugdata"))
    recs = read_records(store)
    assert len(recs) == 6 and len({(r.host, r.pid) for r in recs}) == 6
    elements = {r.job["queue_id"] for r in recs}
    assert len(elements) == 2  # 3 workers in each of the 2 array elements
    assert store.list_locks() == {}
    text = _logs(proj)
    assert len(re.findall(r"^\[w[0-2]\] jug \[.*\] worker .* started", text, re.M)) == 6
    status = jug("status", "mr.py", cwd=proj)
    assert status.returncode == 0


def test_a_worker_killed_inside_a_job_is_reclaimed_by_a_sibling(jug, proj: Path,
                                                                slurm_cluster: str) -> None:
    ids = _submit(jug, proj, env={"WAIT_GATE": "1"})
    store = select_store(str(proj / "mr.jugdata"))
    locks = wait_until(lambda: len(store.list_locks()) == 6 and store.list_locks(), 90,
                       "6 workers holding a task each")
    victim = sorted(o["pid"] for o in locks.values())[0]
    os.kill(victim, signal.SIGKILL)
    (proj / "gate").touch()
    _wait_gone(ids)
    assert _notes(proj) == {**{f"square{i}": 1 for i in range(18)}, "total": 1}
    assert store.list_locks() == {}
    text = _logs(proj)
    assert re.search(rf"jug: worker w\d \(pid {victim}\) was killed by SIGKILL", text), text
    assert "reclaim" in text.lower()


def test_stop_drains_all_six_workers(jug, proj: Path, slurm_cluster: str) -> None:
    ids = _submit(jug, proj, env={"WAIT_GATE": "1"})
    store = select_store(str(proj / "mr.jugdata"))
    wait_until(lambda: len(store.list_locks()) == 6, 90, "6 workers holding a task each")
    (proj / "STOP").touch()
    (proj / "gate").touch()
    _wait_gone(ids, 60)
    notes = _notes(proj)
    assert 6 <= sum(notes.values()) < 19 and set(notes.values()) == {1}
    assert store.list_locks() == {}
    assert len(re.findall(r"\[w[0-2]\] jug: stopping: stop file", _logs(proj))) == 6


def test_scancel_of_one_element_loses_nothing(jug, proj: Path, slurm_cluster: str) -> None:
    ids = _submit(jug, proj, env={"WAIT_GATE": "1"})
    store = select_store(str(proj / "mr.jugdata"))
    locks = wait_until(lambda: len(store.list_locks()) == 6 and store.list_locks(), 90,
                       "6 workers holding a task each")
    element = sorted({o["job"]["queue_id"] for o in locks.values()})[0]
    import subprocess

    subprocess.run(["scancel", element], check=True)
    wait_until(lambda: len(store.list_locks()) == 3, 60, "the cancelled element's 3 locks gone")
    (proj / "gate").touch()
    _wait_gone(ids)
    notes = _notes(proj)
    assert len(notes) == 19 and set(notes.values()) == {1}  # all done, nothing twice
    st = jug("status", "--json", "mr.py", cwd=proj)
    assert st.returncode == 0
    # the cancelled element's tasks are not lost: the other element's workers ran them
    import json

    total = json.loads(st.stdout)["total"]
    assert total["finished"] == 19 and store.list_locks() == {}, total


def test_until_done_with_workers_per_job(jug, proj: Path, slurm_cluster: str) -> None:
    p = jug("submit", "--scheduler", "slurm", "--until-done", "--workers", "6",
            "--workers-per-job", "3", "--directive=--cpus-per-task=1", "--walltime", "0:10:00",
            "mr.py", cwd=proj)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 jobs x 3 workers" in p.stdout
    store = select_store(str(proj / "mr.jugdata"))
    ids = [d["job_id"] for d in submitted_arrays(store, str(proj / "mr.py")).values()]
    _wait_gone(ids)
    wait_until(lambda: "done: all 19 tasks finished" in jug("submit", "--scheduler", "slurm",
                                                           "--status", "mr.py", cwd=proj).stdout,
               60, "the chain to end done")
    assert _notes(proj) == {**{f"square{i}": 1 for i in range(18)}, "total": 1}
    assert len(read_records(store)) == 6 and store.list_locks() == {}
