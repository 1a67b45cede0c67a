"""LSF end to end with the fake bsub/bjobs/bkill/bmod/bstop/bresume/bparams of tests/fakelsf.

The fake's daemon dispatches elements as slots and the array's slot limit allow and runs the
rendered script itself (``/bin/sh``, the submission environment, ``LSB_JOBID`` and
``LSB_JOBINDEX``), so these tests exercise the script, the queue parser and the commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from fakebatch import calls, stop_all
from support import FAKELSF, base_env, fast_idle_workers, project_status, side_effects, wait_until


@pytest.fixture
def lsf(tmp_path: Path) -> Iterator[dict]:
    """The fake LSF of this test: its state folder and environment; nothing left running."""
    state = tmp_path / "fakelsf"
    fast_idle_workers(tmp_path)
    yield {"FAKELSF_DIR": str(state), "HOME": str(tmp_path), "FAKELSF_TERMINATE_INTERVAL": "2"}
    stop_all(state)


def run(jug, project: Path, lsf: dict, *args: str, env: dict | None = None):
    return jug("submit", "--scheduler", "lsf", *args, cwd=project, path_prefix=str(FAKELSF),
               env={**lsf, **(env or {})})


def bjobs(lsf: dict) -> dict[str, str]:
    """``{"1[2]": "RUN", ...}`` from the fake's own ``bjobs -json``."""
    p = subprocess.run([str(FAKELSF / "bjobs"), "-o", "jobid jobindex stat", "-json"],
                       env=base_env(lsf), capture_output=True, text=True, timeout=30)
    return {f"{r['JOBID']}[{r['JOBINDEX']}]": r["STAT"] for r in json.loads(p.stdout)["RECORDS"]}


def lsf_cmd(lsf: dict, *argv: str) -> str:
    p = subprocess.run([str(FAKELSF / argv[0]), *argv[1:]], env=base_env(lsf),
                       capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr


def finished(jug, project: Path, args: tuple, n: int) -> dict:
    return wait_until(lambda: (s := project_status(jug, project, args=args))["total"]["finished"]
                      == n and s["locks"]["count"] == 0 and s, 90, f"{n} finished tasks")


def test_array_with_a_slot_limit_runs_every_task_once(jug, project: Path, lsf: dict) -> None:
    p = run(jug, project, lsf, "--workers", "3", "--throttle", "2", "--walltime", "0:30:00",
            "work.py", "--", "9", "1")
    assert p.returncode == 0, p.stderr
    assert "submitted lsf array 1: 3 worker(s)" in p.stdout
    seen = wait_until(lambda: (q := bjobs(lsf)) and sorted(q.values()) == ["PEND", "RUN", "RUN"]
                      and q, 20, "two elements running and one held by the slot limit")
    assert set(seen) == {"1[1]", "1[2]", "1[3]"}
    [bsub] = [c for c in calls(lsf["FAKELSF_DIR"]) if c["cmd"] == "bsub"]
    assert bsub["argv"] == [] and bsub["cwd"] == str(project)  # the script came on stdin
    script = next((project / "logs").glob("jug-work_*.sh")).read_text()
    assert '#BSUB -J "jug-work[1-3]%2"\n#BSUB -W 0:30\n' in script
    finished(jug, project, ("9", "1"), 9)
    started, done = side_effects(project)
    assert sorted(done, key=int) == [str(i) for i in range(9)] and len(started) == 9
    assert {f.read_text() for f in (project / "side").iterdir()} <= {
        f"LSB_JOBINDEX={i}" for i in (1, 2, 3)}
    logs = sorted(x.name for x in (project / "logs").glob("*.out"))
    assert logs == ["jug-work_1_1.out", "jug-work_1_2.out", "jug-work_1_3.out"]
    assert "jug worker 2 of jug-work" in (project / "logs" / "jug-work_1_2.out").read_text()


def test_cancel_kills_running_workers_and_forgets_the_arrays(jug, project: Path,
                                                             lsf: dict) -> None:
    p = run(jug, project, lsf, "--workers", "2", "work.py", "--", "4", "30")
    assert p.returncode == 0, p.stderr
    wait_until(lambda: project_status(jug, project, args=("4", "30"))["locks"]["count"] == 2,
               30, "both workers to hold a lock")
    c = jug("submit", "--cancel", "work.py", cwd=project, path_prefix=str(FAKELSF), env=lsf)
    assert c.returncode == 0, c.stderr
    assert "cancelled lsf array 1 (2 running, 0 pending)" in c.stdout
    assert [x["argv"] for x in calls(lsf["FAKELSF_DIR"]) if x["cmd"] == "bkill"] == [["1"]]
    st = wait_until(lambda: (s := project_status(jug, project, args=("4", "30")))["locks"]
                    ["count"] == 0 and s, 20, "the killed workers to release their locks")
    assert st["total"]["finished"] == 0
    again = jug("submit", "--cancel", "work.py", cwd=project, path_prefix=str(FAKELSF), env=lsf)
    assert "no submitted arrays recorded" in again.stdout


def test_watch_raises_the_slot_limit_live_and_finishes(jug, project: Path, lsf: dict) -> None:
    p = run(jug, project, lsf, "--watch", "--poll", "0.5", "--workers", "3", "--max-workers", "3",
            "--throttle", "1", "--walltime", "0:30:00", "work.py", "--", "12", "0.5")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "done: all 12 tasks finished" in p.stdout
    log = calls(lsf["FAKELSF_DIR"])
    bmods = [c["argv"] for c in log if c["cmd"] == "bmod"]
    assert bmods and bmods[0][:2] == ["-J", "%3"] and bmods[0][2] == "1", bmods
    assert [c["cmd"] for c in log].count("bsub") == 1  # raised the limit, no second array
    queries = [c for c in log if c["cmd"] == "bjobs"]
    assert len(queries) == p.stdout.count(" tasks: ")  # one queue query per poll
    assert sorted(side_effects(project)[1], key=int) == [str(i) for i in range(12)]


def test_stop_file_drains_pending_elements(jug, project: Path, lsf: dict) -> None:
    """Two slots for four workers: the stop file makes the loop bkill the two pending
    elements by index; the running ones finish their task."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jug", "submit", "--scheduler", "lsf", "--watch", "--poll", "0.5",
         "--workers", "4", "--walltime", "0:30:00", "work.py", "--", "20", "1"],
        cwd=project, env=base_env({**lsf, "FAKELSF_SLOTS": "2",
                                   "PATH": f"{FAKELSF}:{base_env()['PATH']}"}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    (project / "STOP").touch()
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3 and "drained" in out, out + err
    kills = [c["argv"] for c in calls(lsf["FAKELSF_DIR"]) if c["cmd"] == "bkill"]
    assert len(kills) == 1 and kills[0][0] in ("1[3-4]", "1[4]"), kills  # pending ones only
    started, done = side_effects(project)
    assert sorted(started) == sorted(done) and len(done) < 20  # none cut


def test_suspended_element_counts_as_running(jug, project: Path, lsf: dict) -> None:
    """USUSP keeps its slot and its lock: the loop neither reclaims nor replaces it."""
    p = run(jug, project, lsf, "--workers", "2", "work.py", "--", "4", "6")
    assert p.returncode == 0, p.stderr
    wait_until(lambda: project_status(jug, project, args=("4", "6"))["locks"]["count"] == 2,
               30, "both workers to hold a lock")
    assert "is being stopped" in lsf_cmd(lsf, "bstop", "1[1]")
    assert bjobs(lsf) == {"1[1]": "USUSP", "1[2]": "RUN"}
    once = run(jug, project, lsf, "--watch", "--once", "--max-workers", "2", "work.py", "--",
               "4", "6")
    assert once.returncode == 0, once.stdout + once.stderr
    assert "workers: 0 pending, 2 running" in once.stdout and "reclaimed" not in once.stdout
    assert [c["cmd"] for c in calls(lsf["FAKELSF_DIR"])].count("bsub") == 1
    assert "is being resumed" in lsf_cmd(lsf, "bresume", "1[1]")
    finished(jug, project, ("4", "6"), 4)


def test_arrays_beyond_max_job_array_size(jug, project: Path, lsf: dict) -> None:
    """The limit from bparams splits the workers; an array beyond it is refused by bsub with
    its own words (here: a --max-array-size above the site's)."""
    small = {"FAKELSF_MAX_ARRAY": "2"}
    p = run(jug, project, lsf, "--workers", "5", "work.py", "--", "5", "0.2", env=small)
    assert p.returncode == 0, p.stderr
    assert [c["argv"] for c in calls(lsf["FAKELSF_DIR"]) if c["cmd"] == "bparams"] == [["-a"]]
    sizes = [line.split(": ")[1].split(" ")[0] for line in p.stdout.splitlines()
             if line.startswith("submitted lsf array")]
    assert sizes == ["2", "2", "1"], p.stdout
    finished(jug, project, ("5", "0.2"), 5)
    bad = run(jug, project, lsf, "--workers", "3", "--max-array-size", "1000", "work.py",
              "--", "9", "0.2", env=small)
    assert bad.returncode == 1 and "Job array index too large. Job not submitted." in bad.stderr
    assert "Traceback" not in bad.stderr
    assert len([c for c in calls(lsf["FAKELSF_DIR"]) if c["cmd"] == "bsub"]) == 4


def test_warning_before_the_run_limit_releases_the_lock(jug, project: Path, lsf: dict) -> None:
    """-W 2:00 minus -wt 1: SIGUSR1 after a minute reaches a worker inside a task that
    started within its budget (30 s); it releases the lock and stops before the kill."""
    t0 = time.time()
    p = run(jug, project, lsf, "--walltime", "0:02:00", "--margin", "90s", "work.py", "--",
            "2", "100")
    assert p.returncode == 0, p.stderr
    script = next((project / "logs").glob("jug-work_*.sh")).read_text()
    assert "#BSUB -wa USR1\n#BSUB -wt 1\n" in script and " -m jug execute " in script
    log = project / "logs" / "jug-work_1_1.out"
    wait_until(lambda: log.exists() and "jug: received SIGUSR1" in log.read_text(), 90,
               "the warning signal")
    assert 55 < time.time() - t0 < 85
    st = wait_until(lambda: (s := project_status(jug, project, args=("2", "100")))["locks"]
                    ["count"] == 0 and s, 20, "the lock to be released")
    assert st["total"]["finished"] == 0
    assert "released the lock of the running task" in log.read_text()


def test_rejected_submission_shows_bsub_words(jug, project: Path, lsf: dict) -> None:
    p = run(jug, project, lsf, "work.py", env={
        "FAKELSF_BSUB_EXIT": "255", "FAKELSF_BSUB_STDERR": "normal: No such queue. "
        "Job not submitted.\n"})
    assert p.returncode == 1 and "exit code 255" in p.stderr
    assert "normal: No such queue. Job not submitted." in p.stderr
    assert not list((project / "logs").glob("*.sh"))  # no stray script


def test_missing_bsub_is_one_clear_error(jug, project: Path, lsf: dict) -> None:
    p = jug("submit", "--scheduler", "lsf", "--no-check", "work.py", cwd=project,
            env={**lsf, "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1 and "command 'bsub' not found on PATH" in p.stderr
    assert "Traceback" not in p.stderr
