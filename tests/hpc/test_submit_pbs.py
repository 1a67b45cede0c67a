"""PBS end to end with the fake qsub/qstat/qdel of tests/fakepbs (no PBS server is packaged).

The fake qsub runs the rendered script itself for every array element, with PBS's variables,
a bare environment and $HOME as working directory, so these tests exercise the script.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support import FAKEPBS, fast_idle_workers, project_status, side_effects, wait_until


def _calls(state: Path) -> list[dict]:
    f = state / "calls.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []


@pytest.fixture
def fake(tmp_path: Path) -> dict:
    """Environment putting the fake PBS first on PATH, with its own state folder."""
    state = tmp_path / "fakepbs"
    fast_idle_workers(tmp_path)
    return {"state": state, "env": {"FAKEPBS_DIR": str(state), "HOME": str(tmp_path)}}


@pytest.mark.parametrize("dialect,var", [("pbs", "PBS_ARRAY_INDEX"), ("torque", "PBS_ARRAYID")])
def test_array_runs_every_task_once(jug, project: Path, fake: dict, dialect: str, var: str) -> None:
    p = jug("submit", "--scheduler", dialect, "--workers", "3", "--walltime", "0:30:00",
            "work.py", "--", "9", "0.2", cwd=project, path_prefix=str(FAKEPBS),
            env={**fake["env"], "FAKEPBS_SYNC": "1"})
    assert p.returncode == 0, p.stderr
    assert "submitted " + dialect + " array 1[].fakeserver: 3 worker(s)" in p.stdout
    qsubs = [c for c in _calls(fake["state"]) if c["cmd"] == "qsub"]
    assert len(qsubs) == 1 and qsubs[0]["argv"][-1].endswith(".sh")
    script = Path(qsubs[0]["argv"][-1]).read_text()
    assert ("#PBS -J 0-2" if dialect == "pbs" else "#PBS -t 0-2") in script
    st = project_status(jug, project, args=("9", "0.2"))
    assert st["total"]["finished"] == 9 and st["locks"]["count"] == 0
    started, done = side_effects(project)
    assert sorted(done) == sorted(str(i) for i in range(9)) and len(started) == 9
    seen = {f.read_text() for f in (project / "side").iterdir()}
    assert seen <= {f"{var}={i}" for i in range(3)} and len(seen) >= 1
    logs = sorted(x.name for x in (project / "logs").iterdir() if ".o1." in x.name)
    assert logs == ["jug-work.o1.0", "jug-work.o1.1", "jug-work.o1.2"]
    assert "jug worker 1 of jug-work" in (project / "logs" / "jug-work.o1.1").read_text()


def test_cancel_stops_running_workers_and_forgets_the_arrays(jug, project: Path, fake: dict) -> None:
    p = jug("submit", "--scheduler", "pbs", "--workers", "2", "work.py", "--", "4", "30",
            cwd=project, path_prefix=str(FAKEPBS), env=fake["env"])
    assert p.returncode == 0, p.stderr
    wait_until(lambda: project_status(jug, project, args=("4", "30"))["locks"]["count"] == 2, 30,
               "both workers to hold a lock")
    c = jug("submit", "--scheduler", "pbs", "--cancel", "work.py", cwd=project,
            path_prefix=str(FAKEPBS), env=fake["env"])
    assert c.returncode == 0, c.stderr
    assert "cancelled pbs array 1[].fakeserver (2 running, 0 pending)" in c.stdout
    qdel = [x for x in _calls(fake["state"]) if x["cmd"] == "qdel"]
    assert qdel and qdel[0]["argv"] == ["1[].fakeserver"]
    st = wait_until(lambda: (s := project_status(jug, project, args=("4", "30")))["locks"]["count"] == 0
                    and s, 20, "the cancelled workers to release their locks")
    assert st["total"]["finished"] == 0
    again = jug("submit", "--cancel", "work.py", cwd=project,  # scheduler from the state
                path_prefix=str(FAKEPBS), env=fake["env"])
    assert "no submitted arrays recorded" in again.stdout


def test_rejected_submission_shows_the_scheduler_stderr(jug, project: Path, fake: dict) -> None:
    env = {**fake["env"], "FAKEPBS_QSUB_EXIT": "38",
           "FAKEPBS_QSUB_STDERR": "qsub: Unknown queue name 'gpu'\n"}
    p = jug("submit", "--scheduler", "pbs", "--queue", "gpu", "work.py", cwd=project,
            path_prefix=str(FAKEPBS), env=env)
    assert p.returncode == 1
    assert "exit code 38" in p.stderr and "qsub: Unknown queue name 'gpu'" in p.stderr


def test_site_wrapper_banner_and_unparsable_output(jug, project: Path, fake: dict) -> None:
    banner = "*** Welcome to HPC ***\nJob charged to abc123\n1[].pbs01"
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "1", "0", cwd=project,
            path_prefix=str(FAKEPBS), env={**fake["env"], "FAKEPBS_QSUB_STDOUT": banner,
                                           "FAKEPBS_SYNC": "1"})
    assert p.returncode == 0 and "array 1[].pbs01" in p.stdout
    env = {**fake["env"], "FAKEPBS_QSUB_STDOUT": "Job accepted as number 77", "FAKEPBS_SYNC": "1"}
    bad = jug("submit", "--scheduler", "pbs", "work.py", "--", "3", "0", cwd=project,
              path_prefix=str(FAKEPBS), env=env)
    assert bad.returncode == 1
    assert "Job accepted as number 77" in bad.stderr and "submit-pattern" in bad.stderr
    good = jug("submit", "--scheduler", "pbs", "--submit-pattern", r"number (?P<id>\d+)",
               "work.py", "--", "5", "0", cwd=project, path_prefix=str(FAKEPBS), env=env)
    assert good.returncode == 0 and "array 77:" in good.stdout


def test_walltime_budget_stops_the_worker_between_tasks(jug, project: Path, fake: dict) -> None:
    """A worker with a 6 s budget stops taking tasks: the rest stays for the next array."""
    t0 = time.time()
    p = jug("submit", "--scheduler", "pbs", "--walltime", "0:00:10", "--margin", "4s",
            "work.py", "--", "20", "1", cwd=project, path_prefix=str(FAKEPBS),
            env={**fake["env"], "FAKEPBS_SYNC": "1"})
    assert p.returncode == 0, p.stderr
    assert time.time() - t0 < 10
    st = project_status(jug, project, args=("20", "1"))
    assert 3 <= st["total"]["finished"] < 20 and st["locks"]["count"] == 0
    log = (project / "logs" / "jug-work.o1").read_text()
    assert "jug: stopping:" in log and "time" in log.split("jug: stopping:")[1]
