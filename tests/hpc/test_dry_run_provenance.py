"""``jug submit --dry-run`` says where each value comes from, also with worker pools: a
pool's own settings come from the file (or ``--pool``) that declares the pool, each pool's
array size is the one its script shows, and a chain's worker cap counts every pool.  The
dry run also says when the backstop signal arrives and how the scripts are validated.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from support import FAKEPBS, POOL_FUNCTIONS, cancel_quietly, until_done

POOLS = """\
scheduler: slurm
pools:
  gpu:
    tasks: [train]
    partition: gpu
    gpus: 1
    mem: 16G
    max-workers: 2
  default:
    mem: 2G
"""

PIPELINE = POOL_FUNCTIONS + """
xs = [prep(i) for i in range(4)]
m = train(xs)
ys = [post(m, i) for i in range(2)]
"""


def settings_of(out: str, pool: str) -> dict[str, tuple[str, str]]:
    """{setting: (value, source)} of one pool's block of the dry run."""
    block = out.split(f"# ==== pool {pool}:", 1)[1].split("#!/bin/bash", 1)[0]
    found = re.findall(r"^#   (\S+)\s+(.*?)  <- (.*)$", block, re.M)
    return {k: (v, src) for k, v, src in found}


def script_of(out: str, pool: str) -> str:
    return out.split(f"# ==== pool {pool}:", 1)[1].split("#!/bin/bash", 1)[1].split(
        "# ---- submit command", 1)[0]


def test_pool_settings_come_from_the_file_that_declares_the_pool(jug, project: Path) -> None:
    (project / "jug-submit.yaml").write_text(POOLS)
    (project / "pipeline.py").write_text(PIPELINE)
    yaml = str(project / "jug-submit.yaml")
    p = jug("submit", "--workers", "3", "--pool", "big:tasks=post,mem=3G", "--dry-run",
            "--no-check", "pipeline.py", cwd=project)
    assert p.returncode == 0, p.stderr
    gpu = settings_of(p.stdout, "gpu")
    assert gpu["queue"] == ("gpu", f"{yaml}, pool gpu"), gpu["queue"]
    assert gpu["gpus"] == ("1", f"{yaml}, pool gpu")
    assert gpu["mem"] == ("16G", f"{yaml}, pool gpu")
    assert gpu["workers"][0] == "2" and "max-workers" in gpu["workers"][1]
    assert "#SBATCH --array=0-1\n" in script_of(p.stdout, "gpu")
    assert gpu["job-name"][1] == "derived (pool gpu)"
    assert "built-in" not in gpu["execute-args"][1]
    big = settings_of(p.stdout, "big")
    assert big["mem"] == ("3G", "command line (--pool big)")
    default = settings_of(p.stdout, "default")
    assert default["mem"] == ("2G", f"{yaml}, pool default")
    assert default["workers"][0] == "3" and default["workers"][1].startswith(
        "--workers, command line")
    assert "#SBATCH --array=0-2\n" in script_of(p.stdout, "default")
    assert default["scheduler"] == ("slurm", yaml)


@pytest.mark.parametrize("margin,expect", [
    ("300s", r"SIGTERM 150 s before the walltime \(between 00:06:30 and 00:07:30 into the "
             r"job, after the budget ends at 00:05:00\)"),
    ("60s", r"none: slurm may send it up to 60 s early, so a margin of 60 s leaves no lead"),
])
def test_dry_run_says_when_the_backstop_signal_comes(jug, project: Path, margin: str,
                                                     expect: str) -> None:
    p = jug("submit", "--scheduler", "slurm", "--walltime", "10:00", "--margin", margin,
            "--dry-run", "--no-check", "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    [line] = [ln for ln in p.stdout.splitlines() if ln.startswith("#   backstop")]
    assert re.search(expect, line), line
    assert ("--signal" in p.stdout) == (margin == "300s")
    assert "#   validation       sbatch --test-only SCRIPT  <- derived" in p.stdout


def test_pbs_dry_run_says_it_has_no_validation_and_no_signal(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "pbs", "--dry-run", "--no-check", "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    assert "validation       none (pbs has no dry validation of a job script)" in p.stdout
    assert "backstop         none (pbs has no signal before the walltime" in p.stdout


def test_chain_cap_counts_every_pool(project: Path, tmp_path: Path) -> None:
    """"chain started: ... at most N worker(s)" adds up the pools' caps (it said 1)."""
    state = tmp_path / "fakepbs"
    env = {"FAKEPBS_DIR": str(state), "HOME": str(tmp_path)}
    (project / "pipeline.py").write_text(PIPELINE)
    (project / "jug-submit.yaml").write_text(textwrap.dedent(f"""\
        execute-args: ["--wait-cycle-time", "1"]
        env:
          PATH: "{FAKEPBS}:/usr/bin:/bin"
          FAKEPBS_DIR: "{state}"
        pools:
          gpu: {{tasks: [train], max-workers: 2}}
          default: {{max-workers: 3}}
        """))
    env["PATH"] = f"{FAKEPBS}:/usr/bin:/bin"
    try:
        p = until_done(project, "pbs", "--walltime", "0:10:00", jugfile="pipeline.py",
                       env=env)
    finally:
        cancel_quietly(project, jugfile="pipeline.py", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"chain started: up to \d+ generations? of at most 5 workers "
                     r"\(2 gpu, 3 default\)", p.stdout), p.stdout
