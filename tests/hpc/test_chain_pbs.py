"""``jug submit --until-done`` through the fake PBS of tests/fakepbs (``-W depend=afterany``).

The fake runs each job as local processes with a bare environment, like PBS; the site
profile puts the fake qsub on the jobs' PATH, as a real site's profile would load modules.
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
from support import (
    FAILING,
    FAKEPBS,
    assert_each_task_once,
    cancel_quietly,
    chain_of,
    side_effects,
    until_done,
    wait_chain_end,
    wait_until,
)

from jug.hpc.chain.records import describe as chain_lines


@pytest.fixture
def pbs(project: Path, tmp_path: Path) -> Iterator[dict]:
    """The fake PBS for this test: state folder, environment, and the site profile."""
    state = tmp_path / "fakepbs"
    (tmp_path / "jug-submit.yaml").write_text(textwrap.dedent(f"""\
        execute-args: ["--wait-cycle-time", "1"]
        env:
          PATH: "{FAKEPBS}:/usr/bin:/bin"
          FAKEPBS_DIR: "{state}"
        """))
    env = {"FAKEPBS_DIR": str(state), "HOME": str(tmp_path),
           "PATH": f"{FAKEPBS}{os.pathsep}{os.environ['PATH']}"}
    yield env
    cancel_quietly(project, env=env)
    for f in project.glob("*.py"):
        cancel_quietly(project, jugfile=f.name, env=env)


def alive_jobs(env: dict) -> dict[str, dict]:
    """The fake's jobs whose process still runs."""
    path = Path(env["FAKEPBS_DIR"]) / "jobs.json"
    jobs = json.loads(path.read_text())["jobs"] if path.exists() else {}
    return {k: v for k, v in jobs.items() if _alive(v["pid"])}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


WALL = ("--workers", "2", "--walltime", "0:00:20", "--margin", "10s")


def test_work_of_three_walltimes_finishes_after_submit_returned(jug, project: Path,
                                                                pbs: dict) -> None:
    p = until_done(project, "pbs", *WALL, work=("24", "2"), env=pbs)
    assert p.returncode == 0 and "submitted planner job" in p.stdout, p.stdout + p.stderr
    chain = wait_chain_end(project, 120)
    assert chain.status == "done" and chain.reason == "all 24 tasks finished", chain
    assert len(chain.generations) >= 3  # the work outlived several walltimes
    assert all(g.by.startswith("worker") for g in chain.generations[1:])  # handed over
    assert all(g.planner for g in chain.generations)
    assert_each_task_once(project, 24)
    wait_until(lambda: not alive_jobs(pbs), 30, "every planner job to exit")
    logs = "".join(f.read_text() for f in (project / "logs").glob("*.o*"))
    assert "jug chain: skipped: generation 2 after generation 1 was planned by" in logs
    assert "received SIGTERM" not in logs
    shown = jug("submit", "--status", "work.py", cwd=project, env=pbs).stdout
    assert shown.startswith(f"chain (--until-done): done, generation {len(chain.generations)}")
    assert "  generation 2: array(s) 3[].fakeserver (2 workers)" in shown, shown
    assert "pbs array 1[].fakeserver: 2 workers; now 0 running, 0 pending" in shown


def test_dry_run_shows_the_planner_job_and_watch_is_refused(jug, project: Path,
                                                            pbs: dict) -> None:
    p = jug("submit", "--scheduler", "pbs", "--until-done", "--dry-run", "work.py",
            cwd=project, env=pbs)
    assert p.returncode == 0 and "#PBS -W depend=afterany:<array id>" in p.stdout, p.stderr
    calls = (Path(pbs["FAKEPBS_DIR"]) / "calls.jsonl").read_text()
    assert '"qsub"' not in calls  # nothing submitted (only the array size limit asked)
    p = jug("submit", "--scheduler", "pbs", "--until-done", "--watch", "work.py",
            cwd=project, env=pbs)
    assert p.returncode == 2 and "exclude each other" in p.stderr and "Traceback" not in p.stderr


def test_safety_net_resumes_after_every_worker_is_killed(project: Path, pbs: dict) -> None:
    p = until_done(project, "pbs", *WALL, work=("16", "2"), env=pbs)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    workers = {k: v for k, v in alive_jobs(pbs).items() if v["index"] is not None}
    assert workers
    for v in workers.values():  # node failure: no worker can hand over
        os.killpg(v["pid"], signal.SIGKILL)
    chain = wait_chain_end(project, 150)
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("planner job"), chain.generations
    started, done = side_effects(project)
    assert sorted(done, key=int) == [str(i) for i in range(16)]
    assert len(started) - len(done) <= len(workers)  # only the killed tasks ran again


def test_planner_finding_other_workers_at_the_work_plans_again_after_them(
        jug, project: Path, pbs: dict) -> None:
    """A plain ``jug submit`` array does the work: the chain's planner re-arms itself behind
    it instead of leaving the chain without a planner."""
    plain = jug("submit", "--scheduler", "pbs", "--workers", "2", "--walltime", "0:10:00",
                "work.py", "--", "16", "1", cwd=project, env=pbs)
    assert plain.returncode == 0, plain.stderr
    p = until_done(project, "pbs", "--workers", "1", "--walltime", "0:10:00", work=("16", "1"),
                   env=pbs)
    assert p.returncode == 0, p.stderr
    [gen] = chain_of(project).generations
    for v in alive_jobs(pbs).values():
        if v["array"] == gen.arrays[0]:
            os.killpg(v["pid"], signal.SIGKILL)
    chain = wait_chain_end(project, 90)
    assert chain.status == "done" and len(chain.generations) == 1, chain
    assert len(chain.generations[0].rearmed) == 1, chain.generations
    assert "re-armed as" in "\n".join(chain_lines(chain))
    assert sorted(side_effects(project)[1], key=int) == [str(i) for i in range(16)]


def test_stop_file_drains_and_a_new_submit_resumes(project: Path, pbs: dict) -> None:
    p = until_done(project, "pbs", *WALL, work=("30", "2"), env=pbs)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    (project / "STOP").touch()
    chain = wait_chain_end(project, 90)
    assert chain.status == "drained" and "stop file" in chain.reason, chain
    n = len(chain.generations)
    time.sleep(3)
    assert len(chain_of(project).generations) == n  # nothing submitted after the drain
    started, done = side_effects(project)
    assert sorted(started) == sorted(done) and len(done) < 30  # drained, none cut
    (project / "STOP").unlink()
    p = until_done(project, "pbs", *WALL, work=("30", "2"), env=pbs)
    assert p.returncode == 0, p.stderr
    assert wait_chain_end(project, 150).status == "done"
    assert_each_task_once(project, 30)


def test_cancel_leaves_nothing_of_the_chain(project: Path, pbs: dict) -> None:
    p = until_done(project, "pbs", *WALL, work=("30", "2"), env=pbs)
    assert p.returncode == 0, p.stderr
    assert len(alive_jobs(pbs)) == 3  # two workers and the held planner job
    cancel_quietly(project, env=pbs)
    wait_until(lambda: not alive_jobs(pbs), 20, "every job of the chain to end")
    chain = chain_of(project)
    assert chain.status == "cancelled" and len(chain.generations) == 1
    time.sleep(2)
    assert not alive_jobs(pbs)  # no planner woke up to submit more


def test_all_failing_tasks_stop_the_chain_after_one_generation(jug, project: Path,
                                                               pbs: dict) -> None:
    (project / "bad.py").write_text(FAILING)
    p = until_done(project, "pbs", *WALL, jugfile="bad.py", env=pbs)
    assert p.returncode == 0, p.stderr
    chain = wait_chain_end(project, 60, jugfile="bad.py")
    assert len(chain.generations) == 1, chain.generations
    assert chain.status in ("failed", "stopped") and chain.reason, chain
    wait_until(lambda: not alive_jobs(pbs), 30, "every job to end")
    status = jug("status", "bad.py", cwd=project)
    assert f"chain (--until-done): {chain.status}" in status.stdout, status.stdout


def test_planner_whose_submission_is_rejected_stops_the_chain_with_the_reason(
        project: Path, pbs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker is left to retry: the chain says so instead of stalling silently."""
    from jug.backends import select_store
    from jug.hpc.chain.planning import plan_once
    from jug.hpc.chain.records import STOPPED, Chain, Generation, Trigger
    from jug.hpc.chain.start import recorded_settings
    from jug.hpc.job import JobPlan

    for k, v in {**pbs, "FAKEPBS_QSUB_EXIT": "1",
                 "FAKEPBS_QSUB_STDERR": "qsub: would exceed queue limit\n"}.items():
        monkeypatch.setenv(k, v)
    plan = JobPlan.from_settings({"scheduler": "pbs", "walltime": "0:10:00", "workers": 2,
                                  "pythonpath": "none"}, str(project / "work.py"), ["4", "0"],
                                 workdir=str(project))
    store = select_store(plan.jugdir)
    chain = Chain(plan.jugfile, plan.jugdir, plan.workdir, "pbs", recorded_settings(plan),
                  ["4", "0"], 2, None, 5, 300.0, time.time(),
                  generations=[Generation(1, ["77[].fakeserver"], 2, time.time(), "test", 0,
                                          -1)])
    chain.save(store)
    r = plan_once(store, plan.jugfile, 1, "planner job test", Trigger.PLANNER,
                  echo=lambda s: None)
    chain = Chain.load(store, plan.jugfile)
    assert r.outcome == "ended" and chain.status == STOPPED, (r, chain)
    assert "rejected the next generation" in chain.reason
    assert "would exceed queue limit" in chain.reason
    assert len(chain.generations) == 1


def pools_project(project: Path, pbs: dict, n_prep: int = 4, n_post: int = 2) -> None:
    """The prep -> train (gpu pool) -> post pipeline of the pool tests, with its profile."""
    from test_pools_clusters import PIPELINE

    source = (PIPELINE.replace("{n_prep}", str(n_prep)).replace("{n_post}", str(n_post))
              .replace("{prep_secs}", "1").replace("time.sleep(8)", "time.sleep(2)"))
    (project / "pipeline.py").write_text(textwrap.dedent(source))
    (project / "jug-submit.yaml").write_text(textwrap.dedent(f"""\
        execute-args: ["--wait-cycle-time", "1"]
        env:
          PATH: "{FAKEPBS}:/usr/bin:/bin"
          FAKEPBS_DIR: "{pbs['FAKEPBS_DIR']}"
        pools:
          gpu: {{tasks: [train], max-workers: 2, mem: 1G}}
          default: {{max-workers: 2}}
        """))


def test_dry_run_with_pools_shows_each_pool_and_the_planner_job(jug, project: Path,
                                                                pbs: dict) -> None:
    pools_project(project, pbs)
    p = jug("submit", "--scheduler", "pbs", "--until-done", "--dry-run", "pipeline.py",
            cwd=project, env=pbs)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "# ==== pool gpu" in out and "# ==== pool default" in out
    assert out.index("# ==== pool default") < out.index("planner job of generation 1")
    assert "#PBS -W depend=afterany:<array id>" in out
    calls = Path(pbs["FAKEPBS_DIR"]) / "calls.jsonl"
    assert not calls.exists() or '"qsub"' not in calls.read_text()  # nothing submitted


def test_pools_chain_starts_each_pool_when_its_tasks_are_ready(jug, project: Path,
                                                               pbs: dict) -> None:
    """No budget runs out here: the workers with no work left hand over, so the gpu pool
    starts as the cpu work drains and the post tasks get workers once train is done."""
    pools_project(project, pbs)
    p = until_done(project, "pbs", "--walltime", "0:10:00", jugfile="pipeline.py", env=pbs)
    assert p.returncode == 0 and "submitted planner job" in p.stdout, p.stdout + p.stderr
    assert "pool gpu: tasks train" in p.stdout and "[gpu] " in p.stdout
    chain = wait_chain_end(project, 120, jugfile="pipeline.py")
    assert chain.status == "done" and chain.reason == "all 8 tasks finished", chain
    pools = [sorted(set(g.pools.values())) for g in chain.generations]
    assert pools[:2] == [["default"], ["gpu"]] and ["default"] in pools[2:], pools
    assert all(g.by.endswith("(no work left)") for g in chain.generations[1:])
    marks = sorted(f.name.split("-")[0] for f in (project / "side").iterdir())
    assert [m for m in marks if not m.startswith("end")] == sorted(
        ["prep0", "prep1", "prep2", "prep3", "train0", "train1", "post0", "post1"])
    prep_done = max(float(f.name.split("-")[2]) for f in (project / "side").iterdir()
                    if f.name.startswith("endprep"))
    assert chain.generations[1].submitted >= prep_done - 1.0
    shown = jug("submit", "--status", "pipeline.py", cwd=project, env=pbs).stdout
    print(shown)
    assert shown.startswith("chain (--until-done, pools gpu, default): done"), shown
    assert "(pool gpu): 2 workers" in shown and " (gpu) (2 workers)" in shown, shown
    wait_until(lambda: not alive_jobs(pbs), 30, "every job of the chain to end")


def test_cancel_ends_every_pool_array_and_planner_of_a_pools_chain(jug, project: Path,
                                                                   pbs: dict) -> None:
    pools_project(project, pbs, n_prep=8)
    p = until_done(project, "pbs", "--walltime", "0:10:00", jugfile="pipeline.py", env=pbs)
    assert p.returncode == 0, p.stdout + p.stderr
    wait_until(lambda: len(chain_of(project, "pipeline.py").generations) >= 2, 60,
               "the gpu pool's generation")
    assert alive_jobs(pbs)
    p = jug("submit", "--cancel", "pipeline.py", cwd=project, env=pbs)
    assert p.returncode == 0 and "of the chain: " in p.stdout, p.stdout + p.stderr
    wait_until(lambda: not alive_jobs(pbs), 20, "every job of the chain to end")
    chain = chain_of(project, "pipeline.py")
    assert chain.status == "cancelled", chain
    n = len(chain.generations)
    time.sleep(2)
    assert not alive_jobs(pbs) and len(chain_of(project, "pipeline.py").generations) == n


def test_planner_job_reads_the_redis_password(project: Path, pbs: dict,
                                              redis_password_url: str) -> None:
    """Issue 20: the planner job's script did not read the password file that worker scripts
    read, so on PBS (a bare job environment) it could not open the store: with every worker
    killed, the chain stalled.  Here the planner job must plan generation 2 on Redis."""
    from jug.backends import select_store
    from jug.hpc.chain.records import RUNNING, Chain

    p = until_done(project, "pbs", *WALL, "--jugdir", redis_password_url, work=("12", "2"),
                   env=pbs)
    assert p.returncode == 0, p.stdout + p.stderr
    store = select_store(redis_password_url)
    jugfile = str(project / "work.py")
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    for v in alive_jobs(pbs).values():  # node failure: only the planner job can go on
        if v["index"] is not None:
            os.killpg(v["pid"], signal.SIGKILL)
    chain = wait_until(lambda: (c := Chain.load(store, jugfile)) and c.status != RUNNING and c,
                       150, "the chain to end", every=2.0)
    assert chain.status == "done", chain
    assert chain.generations[1].by.startswith("planner job"), chain.generations
    logs = "".join(f.read_text() for f in (project / "logs").glob("*.o*"))
    assert "refused" not in logs and "NOAUTH" not in logs, logs[-2000:]
    for script in (project / "logs").glob("*.sh"):
        assert redis_password_url.split("@")[0].split(":")[-1] not in script.read_text()


def test_cancel_with_nothing_running_says_so_in_one_line(jug, project: Path,
                                                         pbs: dict) -> None:
    """Issue 21 item 11: eleven lines ("array N is no longer queued", in random order) and
    a summary for arrays that had all ended."""
    for _ in range(3):
        p = jug("submit", "--scheduler", "pbs", "--no-check", "--workers", "2", "work.py",
                "--", "2", "0", cwd=project, env={**pbs, "FAKEPBS_SYNC": "1"})
        assert p.returncode == 0, p.stderr
    p = until_done(project, "pbs", *WALL, work=("3", "0"), env=pbs)  # one task left
    assert p.returncode == 0 and "chain started" in p.stdout, p.stdout + p.stderr
    wait_until(lambda: not alive_jobs(pbs), 60, "every job to end")
    c = jug("submit", "--cancel", "work.py", cwd=project, env=pbs)
    assert c.returncode == 0, c.stderr
    assert c.stdout.splitlines() == [
        "nothing was running: none of the 4 recorded arrays is still queued; 4 records "
        "removed"], c.stdout
    again = jug("submit", "--cancel", "work.py", cwd=project, env=pbs)
    assert len(again.stdout.splitlines()) == 1 and "no submitted arrays" in again.stdout


def test_a_drained_chain_resumes_with_the_settings_it_was_started_with(
        jug, project: Path, pbs: dict) -> None:
    """Issue 21 item 4: the hint said "remove it and run jug submit --until-done again",
    which resumed with the built-in walltime and one worker.  The hint now names the exact
    command, and that command reuses the chain record's settings."""
    p = until_done(project, "pbs", "--workers", "2", "--walltime", "0:00:20", "--margin",
                   "10s", "--max-workers", "3", work=("30", "1"), env=pbs)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(side_effects(project)[1]) >= 2, 60, "two finished tasks")
    (project / "STOP").touch()
    chain = wait_chain_end(project, 90)
    assert chain.status == "drained", chain
    assert chain.reason.endswith("(to resume: rm " + str(project / "STOP")
                                 + "; jug submit --resume work.py)"), chain.reason
    wait_until(lambda: not alive_jobs(pbs), 60, "the drained chain's jobs to end")
    (project / "STOP").unlink()
    r = jug("submit", "--resume", "--walltime", "2:00:00", "work.py", cwd=project, env=pbs)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "drop --walltime" in r.stderr
    r = jug("submit", "--resume", "work.py", cwd=project, env=pbs)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "with the settings it was started with: walltime 00:00:20, margin 00:00:10, " \
           "2 workers, at most 3 at once, jugfile arguments 30 1" in r.stdout, r.stdout
    again = chain_of(project)
    assert again.status == "running" and len(again.generations) == 1, again
    assert again.generations[0].workers == 2 and again.max_workers == 3
    from jug.backends import select_store
    from jug.hpc.job import submitted_arrays

    docs = submitted_arrays(select_store(str(project / "work.jugdata")))
    [doc] = [d for d in docs.values() if d["job_id"] == again.generations[0].arrays[0]]
    script = Path(doc["script"]).read_text()
    assert "#PBS -l walltime=00:00:20" in script and "#PBS -J 0-1" in script, script
    assert wait_chain_end(project, 150).status == "done"
    assert_each_task_once(project, 30)


def test_resume_without_a_chain_is_one_clear_line(jug, project: Path, pbs: dict) -> None:
    r = jug("submit", "--resume", "work.py", cwd=project, env=pbs)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("jug submit: no --until-done chain of work.py is recorded in")
    assert len(r.stderr.splitlines()) == 1
