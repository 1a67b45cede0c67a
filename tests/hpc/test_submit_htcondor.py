"""HTCondor end to end with the fake condor_submit/condor_q/condor_rm/condor_hold/
condor_release/condor_qedit of tests/fakecondor.

The fake schedd runs each proc's executable (the rendered script) in ``initialdir`` with
HTCondor's bare environment plus the description's ``environment``, materializes throttled
clusters late, and removes procs whose ``periodic_remove`` fires.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from fakebatch import calls, stop_all
from support import (
    FAKECONDOR,
    assert_each_task_once,
    base_env,
    cancel_quietly,
    fast_idle_workers,
    project_status,
    side_effects,
    until_done,
    wait_chain_end,
    wait_until,
)


@pytest.fixture
def condor(tmp_path: Path) -> Iterator[dict]:
    state = tmp_path / "fakecondor"
    fast_idle_workers(tmp_path)
    yield {"FAKECONDOR_DIR": str(state), "HOME": str(tmp_path), "FAKECONDOR_KILL_DELAY": "3"}
    stop_all(state)


def run(jug, project: Path, condor: dict, *args: str, env: dict | None = None):
    return jug("submit", "--scheduler", "htcondor", *args, cwd=project,
               path_prefix=str(FAKECONDOR), env={**condor, **(env or {})})


def queue(condor: dict) -> dict[str, int]:
    """``{"1.0": JobStatus, ...}`` from the fake's own ``condor_q -json``."""
    p = subprocess.run([str(FAKECONDOR / "condor_q"), "-json"], env=base_env(condor),
                       capture_output=True, text=True, timeout=30)
    ads = json.loads(p.stdout) if p.stdout.strip() else []
    return {f"{a['ClusterId']}.{a['ProcId']}": a["JobStatus"] for a in ads}


def condor_cmd(condor: dict, *argv: str) -> str:
    p = subprocess.run([str(FAKECONDOR / argv[0]), *argv[1:]], env=base_env(condor),
                       capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr


def finished(jug, project: Path, args: tuple, n: int) -> dict:
    return wait_until(lambda: (s := project_status(jug, project, args=args))["total"]["finished"]
                      == n and s["locks"]["count"] == 0 and s, 90, f"{n} finished tasks")


def test_cluster_runs_every_task_once(jug, project: Path, condor: dict) -> None:
    p = run(jug, project, condor, "--workers", "3", "--walltime", "0:30:00", "work.py", "--",
            "9", "0.5")
    assert p.returncode == 0, p.stderr
    assert "submitted htcondor array 1: 3 worker(s)" in p.stdout
    [sub] = (project / "logs").glob("jug-work_*.sub")
    text = sub.read_text()
    assert text.startswith(f"executable = {sub.with_suffix('.sh')}\n")
    assert text.endswith("max_materialize = 3\nqueue 3\n")
    submits = [c for c in calls(condor["FAKECONDOR_DIR"]) if c["cmd"] == "condor_submit"]
    assert [c["argv"] for c in submits] == [["-terse", str(sub)]]
    finished(jug, project, ("9", "0.5"), 9)
    assert {f.read_text() for f in (project / "side").iterdir()} <= {
        f"HTCONDOR_PROCID={i}" for i in (0, 1, 2)}  # $(Process) counts from 0
    logs = sorted(x.name for x in (project / "logs").glob("*.out"))
    assert logs == ["jug-work_1_0.out", "jug-work_1_1.out", "jug-work_1_2.out"]
    assert "jug worker 0 of jug-work" in (project / "logs" / "jug-work_1_0.out").read_text()
    assert "job 1.0 started" in (project / "logs" / "jug-work_1_0.err").read_text()
    assert "005 (001.000.000)" in (project / "logs" / "jug-work_1.log").read_text()


def test_watch_raises_max_materialize_live_and_finishes(jug, project: Path,
                                                        condor: dict) -> None:
    """Throttled to one: the procs not yet materialized count as pending (held by the
    throttle); the loop raises JobMaterializeLimit instead of submitting another cluster."""
    p = run(jug, project, condor, "--watch", "--poll", "0.5", "--workers", "3",
            "--max-workers", "3", "--throttle", "1", "--walltime", "0:30:00", "work.py", "--",
            "12", "0.5")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "done: all 12 tasks finished" in p.stdout
    log = calls(condor["FAKECONDOR_DIR"])
    edits = [c["argv"] for c in log if c["cmd"] == "condor_qedit"]
    assert edits and edits[0] == ["1", "JobMaterializeLimit", "3"], edits
    assert [c["cmd"] for c in log].count("condor_submit") == 1
    queries = [c for c in log if c["cmd"] == "condor_q"]
    assert len(queries) == p.stdout.count(" tasks: ")  # one queue query per poll
    assert sorted(side_effects(project)[1], key=int) == [str(i) for i in range(12)]


def test_cancel_removes_running_workers(jug, project: Path, condor: dict) -> None:
    p = run(jug, project, condor, "--workers", "2", "work.py", "--", "4", "30")
    assert p.returncode == 0, p.stderr
    wait_until(lambda: project_status(jug, project, args=("4", "30"))["locks"]["count"] == 2,
               30, "both workers to hold a lock")
    c = jug("submit", "--cancel", "work.py", cwd=project, path_prefix=str(FAKECONDOR),
            env=condor)
    assert c.returncode == 0, c.stderr
    assert "cancelled htcondor array 1 (2 running, 0 pending)" in c.stdout
    assert [x["argv"] for x in calls(condor["FAKECONDOR_DIR"]) if x["cmd"] == "condor_rm"] \
        == [["1"]]
    st = wait_until(lambda: (s := project_status(jug, project, args=("4", "30")))["locks"]
                    ["count"] == 0 and s, 20, "the removed workers to release their locks")
    assert st["total"]["finished"] == 0
    wait_until(lambda: not queue(condor), 20, "the removed procs to leave the queue")


def test_stop_file_drains_idle_procs(jug, project: Path, condor: dict) -> None:
    env = {**condor, "FAKECONDOR_SLOTS": "2", "PATH": f"{FAKECONDOR}:{base_env()['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jug", "submit", "--scheduler", "htcondor", "--watch", "--poll",
         "0.5", "--workers", "4", "--walltime", "0:30:00", "work.py", "--", "20", "1"],
        cwd=project, env=base_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    (project / "STOP").touch()
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3 and "drained" in out, out + err
    removed = [c["argv"] for c in calls(condor["FAKECONDOR_DIR"]) if c["cmd"] == "condor_rm"]
    assert len(removed) == 1 and set(removed[0]) <= {"1.2", "1.3"}, removed  # idle ones only
    started, done = side_effects(project)
    assert sorted(started) == sorted(done) and len(done) < 20  # none cut


def test_held_jobs(jug, project: Path, condor: dict) -> None:
    """Held by the user: still a worker to come (nothing new submitted); released, it runs."""
    p = run(jug, project, condor, "--workers", "2", "work.py", "--", "6", "1",
            env={"FAKECONDOR_SLOTS": "1"})
    assert p.returncode == 0, p.stderr
    wait_until(lambda: queue(condor) == {"1.0": 2, "1.1": 1}, 20, "one running, one idle")
    assert "Job 1.1 held" in condor_cmd(condor, "condor_hold", "1.1")
    assert queue(condor)["1.1"] == 5
    once = run(jug, project, condor, "--watch", "--once", "--max-workers", "2", "work.py",
               "--", "6", "1")
    assert once.returncode == 0, once.stdout + once.stderr
    assert "workers: 1 pending, 1 running" in once.stdout
    assert [c["cmd"] for c in calls(condor["FAKECONDOR_DIR"])].count("condor_submit") == 1
    assert "Job 1.1 released" in condor_cmd(condor, "condor_release", "1.1")
    finished(jug, project, ("6", "1"), 6)


def test_job_held_by_htcondor_is_no_worker(jug, project: Path, condor: dict) -> None:
    """A proc HTCondor could not start (held, HoldReasonCode 6) will not run by itself: the
    loop does not count it and submits another cluster."""
    env = {"FAKECONDOR_BROKEN_NODE": "1"}
    p = run(jug, project, condor, "--workers", "1", "work.py", "--", "3", "1", env=env)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: queue(condor) == {"1.0": 5}, 20, "the proc to be held")
    once = run(jug, project, condor, "--watch", "--once", "--max-workers", "1", "work.py",
               "--", "3", "1", env=env)
    assert "workers: 0 pending, 0 running" in once.stdout, once.stdout + once.stderr
    assert "submitted htcondor array 2" in once.stdout


def test_missing_executable_is_refused_by_condor_submit(jug, project: Path,
                                                        condor: dict) -> None:
    p = run(jug, project, condor, "work.py", env={
        "FAKECONDOR_SUBMIT_EXIT": "1",
        "FAKECONDOR_SUBMIT_STDERR": "ERROR: Executable file /x.sh does not exist\n"})
    assert p.returncode == 1 and "ERROR: Executable file /x.sh does not exist" in p.stderr
    assert "Traceback" not in p.stderr


# -- --until-done: a planner job in the local universe -----------------------------------------
@pytest.fixture
def chain_condor(project: Path, tmp_path: Path) -> Iterator[dict]:
    """HTCondor jobs start with a bare environment: the profile gives them the fake's
    commands and state (as a site's prologue would load modules)."""
    state = tmp_path / "fakecondor"
    (tmp_path / "jug-submit.yaml").write_text(textwrap.dedent(f"""\
        execute-args: ["--wait-cycle-time", "1"]
        env:
          PATH: "{FAKECONDOR}:/usr/bin:/bin"
          FAKECONDOR_DIR: "{state}"
          JUG_PLANNER_POLL: "1"
        """))
    env = {"FAKECONDOR_DIR": str(state), "HOME": str(tmp_path), "FAKECONDOR_KILL_DELAY": "3",
           "PATH": f"{FAKECONDOR}{os.pathsep}{base_env()['PATH']}"}
    yield env
    cancel_quietly(project, env=env)
    stop_all(state)


WALL = ("--workers", "2", "--walltime", "0:00:20", "--margin", "10s")


def test_until_done_carries_the_work_across_walltimes(jug, project: Path,
                                                      chain_condor: dict) -> None:
    p = until_done(project, "htcondor", *WALL, work=("24", "2"), env=chain_condor)
    assert p.returncode == 0 and "submitted planner job 2" in p.stdout, p.stdout + p.stderr
    planner = next((project / "logs").glob("jug-work_plan1_*.sub")).read_text()
    assert "universe = local\n" in planner and "queue 1\n" in planner
    chain = wait_chain_end(project, 180)
    assert chain.status == "done" and chain.reason == "all 24 tasks finished", chain
    assert len(chain.generations) >= 3 and all(g.planner for g in chain.generations)
    assert_each_task_once(project, 24)
    wait_until(lambda: not queue(chain_condor), 60, "every planner job to end")
    logs = "".join(f.read_text() for f in (project / "logs").glob("jug-work-plan_*.out"))
    assert "waiting for cluster(s) 1 to end" in logs


def test_until_done_safety_net_after_every_worker_died(project: Path,
                                                       chain_condor: dict) -> None:
    """Every worker killed: the planner job waiting on the submit host sees the cluster end
    and plans the next generation itself."""
    import signal

    p = until_done(project, "htcondor", *WALL, work=("12", "2"), env=chain_condor)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    doc = json.loads((Path(chain_condor["FAKECONDOR_DIR"]) / "jobs.json").read_text())
    pids = [pr["pid"] for pr in doc["jobs"]["1"]["procs"].values() if pr.get("pid")]
    assert len(pids) == 2
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)
    chain = wait_chain_end(project, 150)
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("planner job"), chain.generations
    assert sorted(side_effects(project)[1], key=int) == [str(i) for i in range(12)]
    time.sleep(0.5)
