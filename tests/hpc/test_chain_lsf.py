"""``jug submit --until-done`` through the fake LSF of tests/fakelsf (``-w "ended(ID)"``).

LSF passes the submission environment to its jobs, so workers and planner jobs find the fake
bsub/bjobs on their PATH as a real site's would.  LSF's run limit is in whole minutes: each
generation here has a minute of walltime and a 20 s budget.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from fakebatch import alive, stop_all
from support import (
    FAKELSF,
    assert_each_task_once,
    base_env,
    cancel_quietly,
    chain_of,
    side_effects,
    until_done,
    wait_chain_end,
    wait_until,
)


@pytest.fixture
def lsf(project: Path, tmp_path: Path) -> Iterator[dict]:
    state = tmp_path / "fakelsf"
    (tmp_path / "jug-submit.yaml").write_text(textwrap.dedent("""\
        execute-args: ["--wait-cycle-time", "1"]
        """))
    env = {"FAKELSF_DIR": str(state), "HOME": str(tmp_path), "FAKELSF_TERMINATE_INTERVAL": "2",
           "PATH": f"{FAKELSF}{os.pathsep}{base_env()['PATH']}"}
    yield env
    cancel_quietly(project, env=env)
    stop_all(state)


def elements(env: dict) -> dict[str, dict]:
    """Every element of the fake (``"1[2]"`` -> record with ``stat`` and ``pid``)."""
    path = Path(env["FAKELSF_DIR"]) / "jobs.json"
    jobs = json.loads(path.read_text())["jobs"] if path.exists() else {}
    return {f"{j['id']}[{i}]" if j["array"] else str(j["id"]): {**el, "array": j["array"]}
            for j in jobs.values() for i, el in j["elements"].items()}


def unfinished(env: dict) -> dict[str, dict]:
    return {k: e for k, e in elements(env).items()
            if e["stat"] in ("PEND", "PSUSP", "RUN", "USUSP", "SSUSP")}


WALL = ("--workers", "2", "--walltime", "0:01:00", "--margin", "40s")


def test_work_of_three_walltimes_finishes_after_submit_returned(jug, project: Path,
                                                                lsf: dict) -> None:
    p = until_done(project, "lsf", *WALL, work=("48", "2"), env=lsf)
    assert p.returncode == 0 and "submitted planner job 2" in p.stdout, p.stdout + p.stderr
    chain = wait_chain_end(project, 240)
    assert chain.status == "done" and chain.reason == "all 48 tasks finished", chain
    assert len(chain.generations) >= 3  # the work outlived several walltimes
    assert all(g.by.startswith("worker") for g in chain.generations[1:])  # handed over
    assert all(g.planner for g in chain.generations)
    assert_each_task_once(project, 48)
    spool = Path(lsf["FAKELSF_DIR"]) / "spool"
    assert '#BSUB -w "ended(1)"' in (spool / "2.sh").read_text()  # planner of generation 1
    wait_until(lambda: not unfinished(lsf), 60, "every planner job to end")
    logs = "".join(f.read_text() for f in (project / "logs").glob("*.out"))
    assert "jug chain: skipped: generation 2 after generation 1 was planned by" in logs
    shown = jug("submit", "--status", "work.py", cwd=project, env=lsf).stdout
    assert shown.startswith(f"chain (--until-done): done, generation {len(chain.generations)}")
    assert "lsf array 1: 2 workers; now 0 running, 0 pending" in shown


def test_dry_run_shows_the_planner_job(jug, project: Path, lsf: dict) -> None:
    p = jug("submit", "--scheduler", "lsf", "--until-done", "--dry-run", "work.py",
            cwd=project, env=lsf)
    assert p.returncode == 0 and '#BSUB -w "ended(<array id>)"' in p.stdout, p.stderr
    assert "exec bsub <" in p.stdout and not elements(lsf)  # nothing submitted


def test_safety_net_resumes_after_every_worker_is_killed(project: Path, lsf: dict) -> None:
    p = until_done(project, "lsf", *WALL, work=("16", "2"), env=lsf)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    workers = {k: e for k, e in unfinished(lsf).items() if e["array"] and e["stat"] == "RUN"}
    assert len(workers) == 2
    for e in workers.values():  # node failure: no worker can hand over
        os.killpg(e["pid"], signal.SIGKILL)
    chain = wait_chain_end(project, 150)
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("planner job"), chain.generations
    started, done = side_effects(project)
    assert sorted(done, key=int) == [str(i) for i in range(16)]
    assert len(started) - len(done) <= len(workers)  # only the killed tasks ran again


def test_cancel_leaves_nothing_of_the_chain(project: Path, lsf: dict) -> None:
    p = until_done(project, "lsf", *WALL, work=("30", "2"), env=lsf)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(unfinished(lsf)) == 3, 20, "two workers and the held planner job")
    cancel_quietly(project, env=lsf)
    wait_until(lambda: not unfinished(lsf) and not any(alive(e["pid"]) for e in
                                                       elements(lsf).values()), 30,
               "every job of the chain to end")
    chain = chain_of(project)
    assert chain.status == "cancelled" and len(chain.generations) == 1
    time.sleep(2)
    assert not unfinished(lsf)  # no planner woke up to submit more
