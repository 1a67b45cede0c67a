"""Rendered job scripts per scheduler and options, compared with reviewed golden files.

Set JUG_UPDATE_GOLDEN=1 to rewrite the files after a deliberate template change (then
review the diff in tests/golden/).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hpc_helpers import GOLDEN

from jug.schedulers.job import JobPlan

FULL = {
    "queue": "short", "account": "proj42", "mem": "4G", "cpus_per_task": 4, "gpus": 1,
    "throttle": 8, "job_name": "sim", "margin": "10m", "directive": ["--qos=high"],
    "prologue": ["module load python/3.11", "source /opt/venv/bin/activate"],
    "env": {"OMP_NUM_THREADS": "4"}, "execute_args": ["--keep-going"],
}
CASES = {
    "slurm_basic": ("slurm", 64, {}),
    "slurm_full": ("slurm", 16, FULL),
    "slurm_epilogue": ("slurm", 4, {"epilogue": ["echo worker done"]}),
    "pbs_basic": ("pbs", 64, {}),
    "pbs_full": ("pbs", 16, {**FULL, "directive": ["-l place=scatter"]}),
    "pbs_single": ("pbs", 1, {}),
    "torque_full": ("torque", 16, {**FULL, "directive": ["-l naccesspolicy=singlejob"]}),
    "sge_basic": ("sge", 64, {}),
    "sge_full": ("sge", 16, {**FULL, "directive": ["-l arch=lx-amd64"]}),
}


def make_plan(scheduler: str, workers: int, extra: dict, tmp_home: Path) -> JobPlan:
    """A plan with fixed paths, so the rendering does not depend on this machine."""
    settings = {"scheduler": scheduler, "workers": workers, "walltime": "04:00:00",
                "python": "/opt/venv/bin/python", "pythonpath": "none",
                "max_array_size": 1000, **extra}
    args = ["input.csv", "--fast"] if extra.get("job_name") else []
    return JobPlan.from_settings(settings, "/home/user/proj/jugfile.py", args,
                                 workdir="/home/user/proj")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_script_matches_golden(case: str, tmp_path: Path) -> None:
    scheduler, workers, extra = CASES[case]
    text = make_plan(scheduler, workers, extra, tmp_path).render()
    golden = GOLDEN / f"{case}.sh"
    if os.environ.get("JUG_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}: run with JUG_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text()
    script = tmp_path / "s.sh"
    script.write_text(text)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.parametrize("case", ["slurm_basic", "pbs_basic", "sge_basic"])
def test_unset_directives_are_left_out(case: str, tmp_path: Path) -> None:
    scheduler, workers, extra = CASES[case]
    text = make_plan(scheduler, workers, extra, tmp_path).render()
    for word in ("partition", "account", "mem", "gres", "cpus", "-q ", "-A ", "-pe", "h_vmem"):
        assert word not in text.split("# Written")[0], word
    assert not any(line.rstrip().endswith(("=", "None")) for line in text.splitlines())


def test_walltime_budget_and_stop_file_exported(tmp_path: Path) -> None:
    text = make_plan("slurm", 2, {"walltime": "1-00:00:00", "margin": "1h"}, tmp_path).render()
    assert "#SBATCH --time=1-00:00:00" in text
    assert "export JUG_MAX_HOURS=23 JUG_MAX_MINUTES=0 JUG_MAX_SECONDS=0" in text
    assert "export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP" in text
    assert "#SBATCH --signal=B:TERM@1800" in text
    assert text.count("exec /opt/venv/bin/python -m jug execute") == 1


def test_template_dir_overrides_a_block(tmp_path: Path) -> None:
    tdir = tmp_path / "mytemplates"
    tdir.mkdir()
    (tdir / "slurm.sh.j2").write_text(
        '{% extends "slurm.sh.j2" %}' if False else
        '{% extends "base.sh.j2" %}\n{% block directives %}#SBATCH --array={{ array }}\n'
        '#SBATCH --constraint=haswell\n{% endblock %}\n'
        '{% block prologue %}module purge\n{{ super() }}{% endblock %}\n')
    plan = make_plan("slurm", 3, {"template_dir": str(tdir), "prologue": ["module load x"]},
                     tmp_path)
    text = plan.render()
    assert "#SBATCH --constraint=haswell" in text and "#SBATCH --time" not in text
    assert text.index("module purge") < text.index("module load x") < text.index("exec ")


def test_project_jug_templates_folder_is_searched(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "jug_templates").mkdir(parents=True)
    (proj / "jug_templates" / "base.sh.j2").write_text(
        "#!/bin/bash\n{% block directives %}{% endblock %}\n# site base\n"
        "exec {{ command }}\n")
    plan = JobPlan.from_settings({"scheduler": "sge", "workers": 2, "walltime": "1:00:00",
                                  "python": "/p", "pythonpath": "none"},
                                 str(proj / "jugfile.py"), workdir=str(proj))
    text = plan.render()
    assert "# site base" in text and "#$ -t 1-2" in text
