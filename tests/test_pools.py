"""Worker pools: declarations, task matching, per-pool sizing counts, jug execute --only/--exclude."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import POOL_FUNCTIONS, run_jug, write_jugfile

from jug.hpc import sizing
from jug.hpc.pool_settings import (
    PoolError,
    execute_args,
    parse_pool_option,
    parse_pools,
    pool_settings,
    pools_from_settings,
)
from jug.hpc.profiles import ProfileError, read_file
from jug.state.membership import DEFAULT, assign, selection

NAMES = ["wf.prep", "wf.train", "wf.train_big", "wf.assemble", "wf.post", "wf.trainer"]
DECL = {"gpu": {"tasks": ["train"], "gpus": 1, "partition": "gpu", "max-workers": 4},
        "big": {"tasks": ["assemble", "wf.train_big"], "mem": "200G", "max-workers": 2},
        "default": {"max-workers": 64}}


def test_first_matching_pool_wins_else_default() -> None:
    pools = parse_pools(DECL)
    got = assign(NAMES, pools)
    # 'train' matches as --target does: the .train suffix beats the prefix rule, so
    # wf.train_big and wf.trainer are not gpu tasks
    assert got == {"wf.prep": DEFAULT, "wf.train": "gpu", "wf.train_big": "big",
                   "wf.assemble": "big", "wf.post": DEFAULT, "wf.trainer": DEFAULT}


def test_prefix_pattern_and_order_of_pools() -> None:
    pools = parse_pools({"a": {"tasks": ["wf.tr"]}, "b": {"tasks": ["wf.train"]}})
    got = assign(NAMES, pools)
    assert got["wf.train"] == "a" and got["wf.trainer"] == "a"  # a comes first
    assert [p.name for p in pools] == ["a", "b", DEFAULT]  # default added, last


def test_execute_selection_is_exactly_the_pool() -> None:
    """A pool's worker (--only/--exclude) runs exactly the tasks the pool is given."""
    pools = parse_pools({"x": {"tasks": ["wf.tr"]}, **DECL})
    by_pool = assign(NAMES, pools)
    for pool in pools:
        args = execute_args(pools, pool)
        only = [args[i + 1] for i, a in enumerate(args) if a == "--only"]
        exclude = [args[i + 1] for i, a in enumerate(args) if a == "--exclude"]
        assert args[:2] == ["--pool", pool.name]
        assert selection(NAMES, only, exclude) == {n for n, p in by_pool.items()
                                                   if p == pool.name}


@pytest.mark.parametrize("decl, words", [
    ({"default": {"tasks": ["x"]}}, "default pool takes every task"),
    ({"gpu": {"gpus": 1}}, "list the tasks it runs"),
    ({"gpu": {"tasks": ["t"], "max-workers": 0}}, "max-workers must be"),
    ({"gpu": {"tasks": ["t"], "gpuz": 1}}, "unknown option 'gpuz' (did you mean 'gpus'?)"),
    ({"gpu": ["train"]}, "expected a mapping"),
    ({"gpu": {"tasks": [3]}}, "tasks must be a list"),
])
def test_bad_declarations_are_one_line_errors(decl: dict, words: str) -> None:
    with pytest.raises(ProfileError) as e:  # PoolError is one
        parse_pools(decl)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_profile_file_with_pools(tmp_path: Path) -> None:
    f = tmp_path / "jug-submit.yaml"
    f.write_text("pools:\n  gpu: {tasks: [train], gpus: 1}\nworkers: 3\n")
    base, profiles, _ = read_file(f)
    assert base["pools"] == {"gpu": {"tasks": ["train"], "gpus": 1}} and not profiles
    f.write_text("pools: [gpu]\n")
    with pytest.raises(ProfileError, match="'pools' must be a mapping"):
        read_file(f)


def test_command_line_pool_adds_and_replaces() -> None:
    assert parse_pool_option("gpu:tasks=train,eval,gpus=1,partition=gpu,max-workers=4") == (
        "gpu", {"tasks": ["train", "eval"], "gpus": 1, "queue": "gpu", "max_workers": 4})
    pools = pools_from_settings({"pools": DECL, "pool": ["gpu:tasks=fit", "cpu:tasks=prep"]})
    by = {p.name: p for p in pools}
    assert by["gpu"].tasks == ("fit",) and by["gpu"].max_workers is None  # replaced
    assert [p.name for p in pools] == ["gpu", "big", "cpu", DEFAULT]
    with pytest.raises(PoolError, match="write NAME:tasks="):
        parse_pool_option("gpu")
    with pytest.raises(PoolError, match="'x' is not KEY=VALUE"):
        parse_pool_option("gpu:gpus=1,x")


def test_pool_settings_override_and_name_the_array() -> None:
    pools = parse_pools(DECL)
    base = {"queue": "short", "gpus": None, "execute_args": ["--keep-going"], "pools": DECL,
            "job_name": None}
    gpu = pool_settings(base, pools, pools[0], "wf")
    assert gpu["queue"] == "gpu" and gpu["gpus"] == 1 and gpu["job_name"] == "jug-wf-gpu"
    assert gpu["execute_args"] == ["--keep-going", "--pool", "gpu", "--only", "train"]
    assert "pools" not in gpu
    default = pool_settings(base, pools, pools[-1], "wf")
    assert default["queue"] == "short" and default["job_name"] == "jug-wf-default"
    assert default["execute_args"][-4:] == ["--exclude", "assemble", "--exclude", "wf.train_big"]


# -- per-pool sizing counts -------------------------------------------------------------
def _graph(states_prep: str, n_prep: int = 4):
    """prep x n -> train x 2 (gpu) -> post x 3 (default), task hashes p*, t*, o*."""
    order, deps, names, states = [], {}, {}, {}
    for i in range(n_prep):
        h = f"p{i}"
        order.append(h)
        names[h], deps[h], states[h] = "wf.prep", [], states_prep
    for i in range(2):
        h = f"t{i}"
        order.append(h)
        names[h], deps[h] = "wf.train", [f"p{j}" for j in range(n_prep)]
        states[h] = "ready" if states_prep == "finished" else "waiting"
    for i in range(3):
        h = f"o{i}"
        order.append(h)
        names[h], deps[h], states[h] = "wf.post", ["t0", "t1"], "waiting"
    pool_of = {h: ("gpu" if names[h] == "wf.train" else DEFAULT) for h in order}
    return order, states, deps, names, pool_of


def _counts(graph, pool: str | None, typical=lambda n: None) -> sizing.TaskCounts:
    order, states, deps, names, pool_of = graph
    member = None if pool is None else (lambda h: pool_of[h] == pool)
    return sizing.analyse(order, states, deps, names, typical, 3600.0, member=member)


def test_gpu_pool_gets_no_worker_while_its_tasks_wait_on_cpu_work() -> None:
    g = _graph("ready")
    whole = _counts(g, None)
    assert whole.soon == 2  # without pools, the trains count as soon ready
    gpu = _counts(g, "gpu")
    assert (gpu.ready, gpu.waiting, gpu.soon) == (0, 2, 0)
    d = sizing.decide(gpu, [], 3600.0, sizing.Limits(max_workers=4))
    assert d.wanted == 0 and not d.submit
    cpu = _counts(g, DEFAULT)
    assert (cpu.ready, cpu.waiting, cpu.soon) == (4, 3, 0)  # post waits on the gpu pool
    assert sizing.decide(cpu, [], 3600.0, sizing.Limits(max_workers=3)).submit == [3]


def test_gpu_pool_gets_workers_once_its_tasks_are_ready() -> None:
    g = _graph("finished")
    gpu = _counts(g, "gpu")
    assert (gpu.ready, gpu.finished) == (2, 0)
    assert sizing.decide(gpu, [], 3600.0, sizing.Limits(max_workers=4)).submit == [2]
    cpu = _counts(g, DEFAULT)
    assert (cpu.ready, cpu.finished, cpu.soon) == (0, 4, 0)
    assert sizing.decide(cpu, [], 3600.0, sizing.Limits(max_workers=3)).wanted == 0


def test_soon_ready_within_a_pool_still_counts() -> None:
    order, states, deps, names, pool_of = _graph("ready")
    pool_of = dict.fromkeys(order, DEFAULT)  # one pool: like no pools at all
    c = sizing.analyse(order, states, deps, names, lambda n: 10.0, 3600.0,
                       member=lambda h: pool_of[h] == DEFAULT)
    assert c.soon == 5 and c.ready == 4


# -- jug execute --only / --exclude --------------------------------------------------
WF = POOL_FUNCTIONS + """
ps = [prep(i) for i in range(3)]
m = train(ps)
outs = [post(m, i) for i in range(2)]
"""


def _task_counts(tmp_path: Path) -> dict:
    st = json.loads(run_jug("status", "--json", "wf.py", cwd=tmp_path, check=True).stdout)
    return {name: c["finished"] for name, c in st["tasks"].items()}


def test_execute_only_runs_no_dependencies_and_leaves(tmp_path: Path) -> None:
    write_jugfile(tmp_path, WF, "wf.py")
    p = run_jug("execute", "--only", "train", "--pool", "gpu", "wf.py", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "wait on tasks other workers run" in p.stderr
    assert _task_counts(tmp_path) == {"wf.prep": 0, "wf.train": 0, "wf.post": 0}
    p = run_jug("execute", "--exclude", "train", "--pool", "default", "wf.py", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _task_counts(tmp_path) == {"wf.prep": 3, "wf.train": 0, "wf.post": 0}
    p = run_jug("execute", "--only", "train", "--pool", "gpu", "wf.py", cwd=tmp_path)
    assert _task_counts(tmp_path) == {"wf.prep": 3, "wf.train": 1, "wf.post": 0}
    from jug.backends import select_store
    from jug.state.shifts import read_records

    recs = read_records(select_store(str(tmp_path / "wf.jugdata")))
    assert [(r.pool, r.tasks, r.reason) for r in recs] == [
        ("gpu", 0, "no work left"), ("default", 3, "no work left"), ("gpu", 1, "no work left")]
    assert recs[1].spawned is not None and recs[1].spawned <= recs[1].started
    assert recs[1].first_task is not None and recs[1].started <= recs[1].first_task \
        <= recs[1].last_task <= recs[1].ended


def test_execute_only_unknown_name_runs_nothing(tmp_path: Path) -> None:
    write_jugfile(tmp_path, WF, "wf.py")
    p = run_jug("execute", "--only", "nosuch", "wf.py", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sum(_task_counts(tmp_path).values()) == 0


def test_status_by_pool_json_pools_and_submit_report(tmp_path: Path) -> None:
    write_jugfile(tmp_path, WF, "wf.py")
    (tmp_path / "jug-submit.yaml").write_text("pools:\n  gpu: {tasks: [train], gpus: 1}\n")
    env = {"JUG_SUBMIT_CONFIG": "/nonexistent.yaml"}
    run_jug("execute", "--exclude", "train", "--pool", "default", "wf.py", cwd=tmp_path,
            env=env, check=True)
    st = json.loads(run_jug("status", "--json", "wf.py", cwd=tmp_path, env=env,
                            check=True).stdout)
    assert st["pools"] == {"wf.prep": "default", "wf.train": "gpu", "wf.post": "default"}
    assert st["report"]["default"]["workers"] == 1
    assert st["report"]["default"]["executions"] == 3
    assert st["report"]["default"]["reruns"] == 0 and st["report"]["all"]["finished"] == 3
    grouped = json.loads(run_jug("status", "--json", "--by-pool", "wf.py", cwd=tmp_path,
                                 env=env, check=True).stdout)
    assert grouped["tasks"]["default"]["finished"] == 3
    assert grouped["tasks"]["gpu"]["ready"] == 1
    table = run_jug("status", "--by-pool", "wf.py", cwd=tmp_path, env=env, check=True).stdout
    assert any(line.split()[:4] == ["gpu", "0", "1", "0"] for line in table.splitlines())
    assert table.splitlines()[0].split()[:2] == ["Pool", "Waiting"]
    rep = run_jug("submit", "--report", "wf.py", cwd=tmp_path, env=env, check=True).stdout
    row = next(line for line in rep.splitlines() if line.startswith("default"))
    assert row.split()[1] == "1" and row.split()[-2:] == ["0", "-"]  # 1 worker, no rerun
    assert "worker records only" in rep


def test_submit_dry_run_shows_each_pools_script(tmp_path: Path) -> None:
    write_jugfile(tmp_path, WF, "wf.py")
    env = {"JUG_SUBMIT_CONFIG": "/nonexistent.yaml"}
    p = run_jug("submit", "--dry-run", "--scheduler", "slurm", "--max-workers", "5",
                "--pool", "gpu:tasks=train,gpus=1,partition=gpu,max-workers=2", "wf.py",
                cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "# pool gpu: tasks train; queue gpu, gpus 1; max-workers 2" in out
    gpu, default = out.split("# ==== pool default")
    assert "--array=0-1" in gpu and "--gres=gpu:1" in gpu and "--only train" in gpu
    assert "--exclude train" in default and "--gres" not in default
    assert "--job-name=jug-wf-default" in default and "--array=0-4" in default
    assert not (tmp_path / "logs").exists() and not (tmp_path / "wf.jugdata").exists()


@pytest.mark.parametrize("pool, words", [
    ("gpu", "--pool 'gpu': write NAME:tasks="),
    ("gpu:tasks=train,gpuz=1", "unknown option 'gpuz' (did you mean 'gpus'?)"),
    ("default:tasks=x", "the default pool takes every task"),
])
def test_submit_bad_pool_is_a_one_line_error(tmp_path: Path, pool: str, words: str) -> None:
    write_jugfile(tmp_path, WF, "wf.py")
    p = run_jug("submit", "--dry-run", "--scheduler", "slurm", "--pool", pool, "wf.py",
                cwd=tmp_path, env={"JUG_SUBMIT_CONFIG": "/nonexistent.yaml"})
    assert p.returncode == 2 and words in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
