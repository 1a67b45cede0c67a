"""``--workers-per-job``: the plan (jobs, CPUs, command, whole nodes), sizing in whole jobs,
and the fake PBS running the rendered script (``jug execute -j K`` inside each element)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import FAKEPBS, fast_idle_workers, project_status, side_effects

from jug.hpc import sizing
from jug.hpc.job import JobPlan, SubmitError
from jug.hpc.sizing import Action, ArrayState, Limits, TaskCounts, decide, whole_jobs


def _plan(tmp_path: Path, **extra) -> JobPlan:
    settings = {"scheduler": "slurm", "workers": 10, "walltime": "01:00:00",
                "python": "/usr/bin/python3", "pythonpath": "none", **extra}
    return JobPlan.from_settings(settings, str(tmp_path / "jugfile.py"), workdir=str(tmp_path))


def test_the_array_has_ceil_n_over_k_elements_of_k_cpus(tmp_path: Path) -> None:
    plan = _plan(tmp_path, workers_per_job=4, cpus_per_task=2)
    assert plan.per_job == 4 and plan.sizes() == [3] and plan.cpus_per_job == 8
    assert plan.command()[3:6] == ["execute", "-j", "4"]
    one = _plan(tmp_path)
    assert one.per_job == 1 and one.sizes() == [10] and "-j" not in one.command()
    assert _plan(tmp_path, workers=8, workers_per_job=4).sizes() == [2]
    assert _plan(tmp_path, workers=10, workers_per_job=4, max_array_size=2).sizes() == [2, 1]


def test_whole_nodes(tmp_path: Path) -> None:
    plan = _plan(tmp_path, workers=300, workers_per_job="auto", exclusive=True,
                 cores_per_node=128)
    assert plan.per_job == 128 and plan.sizes() == [3]
    text = plan.render()
    assert "#SBATCH --exclusive\n" in text and "#SBATCH --cpus-per-task=128\n" in text
    assert "execute -j 128 " in text


@pytest.mark.parametrize("extra,words", [
    ({"workers_per_job": "auto"}, "workers-per-job auto needs the cores of a node: set "
                                  "'cores-per-node: N' in the profile (or --cores-per-node N)"),
    ({"workers_per_job": 0}, "--workers-per-job must be at least 1, got 0"),
    ({"workers_per_job": "many"}, "--workers-per-job must be a whole number, got 'many'"),
    ({"workers_per_job": 64, "cpus_per_task": 4, "cores_per_node": 128},
     "--workers-per-job 64 needs 256 cores, more than cores-per-node 128"),
    ({"min_workers_per_job": 0}, "--min-workers-per-job must be at least 1, got 0"),
])
def test_bad_values_get_one_line(tmp_path: Path, extra: dict, words: str) -> None:
    with pytest.raises(SubmitError) as e:
        _plan(tmp_path, **extra)
    assert words in str(e.value) and "\n" not in str(e.value)


@given(st.integers(0, 5000), st.integers(1, 256), st.one_of(st.none(), st.integers(1, 256)))
def test_whole_jobs_rule(workers: int, k: int, least: int | None) -> None:
    jobs = whole_jobs(workers, k, least)
    if workers == 0:
        assert jobs == 0
        return
    assert jobs >= 1  # some job whenever there is work
    assert (jobs - 1) * k < workers or jobs == 1  # never a job with no worker's work at all
    assert jobs * k >= workers - (k - 1)  # at most one partly filled job is left out
    if k == 1:
        assert jobs == workers


def test_three_ready_tasks_never_start_a_128_worker_job_beside_a_running_one() -> None:
    arrays = [ArrayState("1", running=1, submitted=1.0)]
    limits = Limits(max_workers=1000, per_job=128)
    d = decide(TaskCounts(ready=3, running=128), arrays, 3600.0, limits)
    assert d.action is Action.KEEP and d.new_workers == 0
    d = decide(TaskCounts(ready=3), [], 3600.0, limits)  # nothing runs: one job, or never done
    assert d.action is Action.SUBMIT and d.submit == [1]
    d = decide(TaskCounts(ready=3, running=128), arrays, 3600.0,
               Limits(max_workers=1000, per_job=128, min_per_job=3))
    assert d.submit == [1]  # the user allows it (min-workers-per-job 3)
    d = decide(TaskCounts(ready=300), [], 3600.0, Limits(max_workers=1000, per_job=128))
    assert d.submit == [2] and "300 worker(s) in jobs of 128" in d.reason
    assert sizing.workers_wanted(TaskCounts(ready=300), 1000) == 300


def test_fake_pbs_runs_j_k_in_each_element(jug, project: Path, tmp_path: Path) -> None:
    state = tmp_path / "fakepbs"
    fast_idle_workers(tmp_path)
    env = {"FAKEPBS_DIR": str(state), "HOME": str(tmp_path), "FAKEPBS_SYNC": "1"}
    p = jug("submit", "--scheduler", "pbs", "--workers", "4", "--workers-per-job", "2",
            "--walltime", "0:30:00", "work.py", "--", "8", "0.2", cwd=project,
            path_prefix=str(FAKEPBS), env=env)
    assert p.returncode == 0, p.stderr
    assert "submitted pbs array 1[].fakeserver: 2 jobs x 2 workers" in p.stdout
    calls = [json.loads(x) for x in (state / "calls.jsonl").read_text().splitlines()]
    script = Path([c for c in calls if c["cmd"] == "qsub"][0]["argv"][-1]).read_text()
    assert "#PBS -J 0-1\n" in script and "#PBS -l select=1:ncpus=2\n" in script
    assert " execute -j 2 " in script
    st_ = project_status(jug, project, args=("8", "0.2"))
    assert st_["total"]["finished"] == 8 and st_["locks"]["count"] == 0
    started, done = side_effects(project)
    assert sorted(done, key=int) == [str(i) for i in range(8)] and len(started) == 8
    logs = "".join(f.read_text() for f in (project / "logs").iterdir() if ".o1." in f.name)
    assert logs.count("[w0] jug [") >= 2 and logs.count("[w1] jug [") >= 2
