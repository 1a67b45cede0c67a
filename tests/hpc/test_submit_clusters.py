"""``jug submit`` on REAL single-node SLURM and SGE clusters (tests/clusters/*-up.sh).

Each test submits real job arrays of ``jug execute`` workers, waits for the scheduler's queue
to empty, and checks the outcome through ``jug status --json`` and the side-effect files of
tests/hpc/jugfiles/work.py.  Under CI=true these fail (never skip) if a cluster cannot start.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from support import fast_idle_workers, project_status, side_effects, wait_until

from jug.backends import select_store
from jug.hpc.job import submitted_arrays
from jug.schedulers import RUNNING, get_scheduler


@pytest.fixture
def proj(project: Path) -> Path:
    """The test project, with idle workers re-checking every second."""
    fast_idle_workers(project.parent)
    return project


def job_ids(proj: Path) -> list[str]:
    """The ids of the arrays recorded in the project's store."""
    docs = submitted_arrays(select_store(str(proj / "work.jugdata")), str(proj / "work.py"))
    return [d["job_id"] for d in docs.values()]


def wait_gone(sched: str, ids: list[str], timeout: float) -> None:
    """Wait until none of the arrays has a pending or running element."""
    s = get_scheduler(sched)
    wait_until(lambda: all(c.alive == 0 for c in s.query(ids).values()), timeout,
               f"{sched} arrays {ids} to leave the queue")


def submit(jug, proj: Path, sched: str, *args: str, work: tuple = ("6", "0.5")):
    """``jug submit --scheduler SCHED ARGS work.py -- WORK``; asserts success."""
    p = jug("submit", "--scheduler", sched, *args, "work.py", "--", *work, cwd=proj)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def logs(proj: Path) -> dict[str, str]:
    """Worker log files by name."""
    return {f.name: f.read_text() for f in (proj / "logs").glob("*.out")}


def test_every_task_runs_once_across_split_arrays(jug, proj: Path, cluster: str) -> None:
    work = ("12", "0.5")
    p = submit(jug, proj, cluster, "--workers", "3", "--max-array-size", "2",
               "--walltime", "0:10:00", work=work)
    ids = job_ids(proj)
    assert len(ids) == 2 and p.stdout.count("submitted ") == 2
    wait_gone(cluster, ids, 120)
    st = project_status(jug, proj, args=work)
    assert st["total"]["finished"] == 12 and st["locks"]["count"] == 0
    started, done = side_effects(proj)
    assert sorted(done, key=int) == [str(i) for i in range(12)]  # each task exactly once
    assert len(started) == 12
    docs = submitted_arrays(select_store(str(proj / "work.jugdata")), str(proj / "work.py"))
    expected = {f"jug-work_{d['short_id']}_{d['first_index'] + i}.out"
                for d in docs.values() for i in range(d["size"])}
    assert set(logs(proj)) == expected and len(expected) == 3
    limit = get_scheduler(cluster).max_array_size()
    assert limit == (1001 if cluster == "slurm" else 75000)


def test_stop_file_drains_a_running_array(jug, proj: Path, cluster: str) -> None:
    work = ("40", "2")
    submit(jug, proj, cluster, "--workers", "2", "--walltime", "0:10:00", work=work)
    ids = job_ids(proj)
    wait_until(lambda: project_status(jug, proj, args=work)["total"]["finished"] >= 2, 60,
               "the first tasks to finish")
    (proj / "STOP").touch()
    t0 = time.time()
    wait_gone(cluster, ids, 30)
    assert time.time() - t0 < 15  # each worker only finished its current 2 s task
    st = project_status(jug, proj, args=work)
    assert 2 <= st["total"]["finished"] < 40 and st["locks"]["count"] == 0
    started, done = side_effects(proj)
    assert sorted(started) == sorted(done) and len(set(done)) == len(done)  # none cut short
    for name, text in logs(proj).items():
        assert "stopping: stop file" in text, (name, text)


def test_cancel_removes_pending_and_running_elements(jug, proj: Path, cluster: str) -> None:
    work = ("8", "120")
    submit(jug, proj, cluster, "--workers", "4", "--throttle", "1", "--walltime", "0:10:00",
           work=work)
    [jid] = job_ids(proj)
    sched = get_scheduler(cluster)
    wait_until(lambda: (c := sched.query([jid])[jid]).running == 1 and c.pending == 3, 60,
               "1 running and 3 pending elements (throttle 1)")
    assert sched.set_throttle(jid, 2)  # live throttle update, as the resubmit loop does
    wait_until(lambda: sched.query([jid])[jid].running == 2, 60, "a second running element")
    st = wait_until(lambda: (s := project_status(jug, proj, args=work))["locks"]["count"] == 2 and s,
                    60, "both running workers to hold a task lock")
    # lock owners name their array element exactly as the queue lists it (for lock reclaim)
    owners = {o["job"]["queue_id"] for o in st["locks"]["owners"]}
    running = {sched.element_id(jid, i) for e in sched.query([jid])[jid].entries
               if e.state == RUNNING for i in (e.indices or [])}
    assert owners == running and len(owners) == 2
    c = jug("submit", "--scheduler", cluster, "--cancel", "work.py", cwd=proj)
    assert c.returncode == 0, c.stderr
    assert f"cancelled {cluster} array {jid} (2 running, 2 pending)" in c.stdout
    wait_gone(cluster, [jid], 60)
    st = wait_until(lambda: (s := project_status(jug, proj, args=work))["locks"]["count"] == 0 and s,
                    30, "no lock left by the cancelled workers")
    assert st["total"]["finished"] == 0
    assert job_ids(proj) == []


def test_rejected_submission_shows_the_scheduler_message(jug, proj: Path, cluster: str) -> None:
    # --no-validate: the submission itself is refused (validation is tested on its own)
    p = jug("submit", "--scheduler", cluster, "--queue", "nosuchqueue", "--no-validate",
            "work.py", cwd=proj)
    assert p.returncode == 1
    expected = "invalid partition" if cluster == "slurm" else 'unknown queue "nosuchqueue"'
    assert expected in p.stderr.lower() or expected in p.stderr
    assert "exit code" in p.stderr
    assert job_ids(proj) == []


@pytest.mark.slurm
def test_slurm_plain_sbatch_output_needs_the_pattern(jug, proj: Path, slurm_cluster: str) -> None:
    (proj / "jug-submit.yaml").write_text("submit-command: sbatch\n"
                                          'execute-args: ["--wait-cycle-time", "1"]\n')
    p = jug("submit", "--scheduler", "slurm", "work.py", "--", "2", "0", cwd=proj)
    assert p.returncode == 1
    m = re.search(r"Submitted batch job (\d+)", p.stderr)
    assert m and "submit-pattern" in p.stderr  # shown, with how to set the pattern
    wait_gone("slurm", [m.group(1)], 60)  # it was submitted, and ran
    good = jug("submit", "--scheduler", "slurm", "--submit-pattern", r"job (?P<id>\d+)",
               "work.py", "--", "3", "0", cwd=proj)
    assert good.returncode == 0, good.stderr
    [jid] = job_ids(proj)
    wait_gone("slurm", [jid], 60)
    assert project_status(jug, proj, args=("3", "0"))["total"]["finished"] == 3


@pytest.mark.slurm
def test_slurm_walltime_shorter_than_the_work(jug, proj: Path, slurm_cluster: str) -> None:
    """2-minute walltime, 90 s margin: workers stop taking tasks after 30 s, nothing is killed.

    (SLURM's smallest walltime is 1 minute, and ``--signal`` may come up to 60 s early, so the
    margin must exceed 60 s for the budget, not the backstop signal, to end the workers.)
    """
    work = ("40", "4")
    t0 = time.time()
    p = submit(jug, proj, "slurm", "--workers", "2", "--walltime", "0:02:00", "--margin", "90s",
               work=work)
    script = Path(re.search(r"script (\S+\.sh)", p.stdout).group(1)).read_text()
    assert "#SBATCH --signal=B:TERM@29" in script
    ids = job_ids(proj)
    wait_gone("slurm", ids, 150)
    elapsed = time.time() - t0
    st = project_status(jug, proj, args=work)
    assert 0 < st["total"]["finished"] < 40 and st["locks"]["count"] == 0
    started, done = side_effects(proj)
    assert sorted(started) == sorted(done) and len(set(done)) == len(done)
    texts = logs(proj)
    assert len(texts) == 2
    for name, text in texts.items():
        assert "DUE TO TIME LIMIT" not in text and "CANCELLED" not in text, (name, text)
        assert "jug: stopping:" in text, (name, text)
    assert elapsed < 60, elapsed  # ended by the 30 s budget, long before the walltime


@pytest.mark.sge
def test_sge_walltime_budget_and_soft_limit_signal(jug, proj: Path, sge_cluster: str) -> None:
    """h_rt 40 s, margin 20 s: short tasks stop at the budget; a long task gets s_rt's
    SIGUSR1 at 30 s, which the worker turns into a clean stop (lock released)."""
    short = ("40", "3")
    submit(jug, proj, "sge", "--workers", "1", "--walltime", "0:00:40", "--margin", "20s",
           work=short)
    long_proj = proj.parent / "long"
    long_proj.mkdir()
    (long_proj / "work.py").write_text((proj / "work.py").read_text())
    long = ("2", "120")
    t0 = time.time()
    submit(jug, long_proj, "sge", "--workers", "1", "--walltime", "0:00:40", "--margin", "20s",
           work=long)
    ids = job_ids(proj) + job_ids(long_proj)
    wait_gone("sge", ids, 90)
    assert time.time() - t0 < 80  # ended at s_rt (30 s), long before h_rt's delayed kill
    st = project_status(jug, proj, args=short)
    assert 3 <= st["total"]["finished"] < 40 and st["locks"]["count"] == 0
    [text] = logs(proj).values()
    assert "jug: stopping:" in text
    st_long = project_status(jug, long_proj, args=long)
    assert st_long["total"]["finished"] == 0 and st_long["locks"]["count"] == 0
    [text_long] = logs(long_proj).values()
    # s_rt's SIGUSR1 (or the SIGTERM it becomes) reached jug inside the task: lock released
    assert re.search(r"received SIG(USR1|TERM); released the lock of the running task",
                     text_long), text_long


@pytest.mark.slurm
@pytest.mark.redis
def test_slurm_workers_share_a_redis_store(jug, proj: Path, slurm_cluster: str,
                                           redis_url: str) -> None:
    """The jugdir may be a redis:// URL: no shared file system needed for the store."""
    work = ("8", "0.3")
    submit(jug, proj, "slurm", "--workers", "2", "--jugdir", redis_url, "--walltime", "0:10:00",
           work=work)
    store = select_store(redis_url)
    [doc] = store.read_docs("submit").values()
    assert doc["jugdir"] == redis_url and not (proj / "work.jugdata").exists()
    wait_gone("slurm", [doc["job_id"]], 60)
    p = jug("status", "--json", "--jugdir", redis_url, "work.py", "--", *work, cwd=proj)
    st = json.loads(p.stdout)
    assert st["total"]["finished"] == 8 and st["locks"]["count"] == 0
    assert sorted(side_effects(proj)[1], key=int) == [str(i) for i in range(8)]


def test_cancel_pending_keeps_running_workers(jug, proj: Path, cluster: str) -> None:
    """What a draining resubmit loop does: drop not-started elements, keep the running one."""
    work = ("6", "120")
    submit(jug, proj, cluster, "--workers", "3", "--throttle", "1", "--walltime", "0:10:00",
           work=work)
    [jid] = job_ids(proj)
    sched = get_scheduler(cluster)
    counts = wait_until(lambda: (c := sched.query([jid])[jid]).running == 1 and c.pending == 2
                        and c, 60, "1 running and 2 pending elements")
    sched.cancel_pending(jid, counts)
    wait_until(lambda: (c := sched.query([jid])[jid]).pending == 0 and c.running == 1, 30,
               "the pending elements to go, the running one to stay")
    time.sleep(2)
    assert sched.query([jid])[jid].running == 1
    sched.cancel([jid])
    wait_gone(cluster, [jid], 60)
    wait_until(lambda: project_status(jug, proj, args=work)["locks"]["count"] == 0, 30,
               "the cancelled worker to release its lock")


# a project folder with characters special to a shell and to each directive parser
SPECIAL = {"slurm": "my proj 50% it's #1 \"q\" $x", "sge": "my proj 50% $x (2)"}
CHECK_ONLY = {"slurm": ["sbatch", "--test-only"], "sge": ["qsub", "-w", "v"]}


def test_project_folder_with_special_characters(jug, tmp_path: Path, cluster: str) -> None:
    """The rendered directives pass the real parser's check, and a real array runs there."""
    import shutil
    import subprocess

    from support import JUGFILES

    proj = tmp_path / SPECIAL[cluster]
    proj.mkdir()
    shutil.copy(JUGFILES / "work.py", proj / "work.py")
    fast_idle_workers(tmp_path)
    dry = jug("submit", "--scheduler", cluster, "--dry-run", "--no-check", "work.py", cwd=proj)
    assert dry.returncode == 0, dry.stderr
    script = dry.stdout.split("\n#!/bin/bash\n", 1)[1].split("# ---- submit command")[0]
    (tmp_path / "check.sh").write_text("#!/bin/bash\n" + script)
    check = subprocess.run([*CHECK_ONLY[cluster], str(tmp_path / "check.sh")], cwd=proj,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    work = ("4", "0.2")
    submit(jug, proj, cluster, "--workers", "2", "--walltime", "0:10:00", work=work)
    wait_gone(cluster, job_ids(proj), 90)
    assert project_status(jug, proj, args=work)["total"]["finished"] == 4
    assert len(logs(proj)) == 2  # in the folder's own logs/, named as the pattern says
    assert sorted(side_effects(proj)[1], key=int) == ["0", "1", "2", "3"]
