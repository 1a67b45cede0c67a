"""Rendered job scripts per scheduler and options, compared with reviewed golden files.

Set JUG_UPDATE_GOLDEN=1 to rewrite the files after a deliberate template change (then
review the diff in tests/golden/).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import GOLDEN

from jug.hpc.job import JobPlan

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
    # --workers-per-job: 10 workers in jobs of 4 is an array of 3 elements of 4 CPUs each
    "slurm_per_job": ("slurm", 10, {"workers_per_job": 4, "mem": "2G"}),
    "pbs_per_job": ("pbs", 10, {"workers_per_job": 4, "mem": "2G", "cpus_per_task": 2}),
    "sge_per_job": ("sge", 10, {"workers_per_job": 4, "mem": "2G"}),
    "torque_per_job": ("torque", 10, {"workers_per_job": 4}),
    "slurm_whole_node": ("slurm", 256, {"workers_per_job": "auto", "exclusive": True,
                                        "cores_per_node": 128}),
    "pbs_whole_node": ("pbs", 256, {"workers_per_job": "auto", "exclusive": True,
                                    "cores_per_node": 128}),
    "sge_whole_node": ("sge", 256, {"workers_per_job": "auto", "exclusive": True,
                                    "cores_per_node": 128}),
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
        '{% extends "base.sh.j2" %}\n{% block directives %}#SBATCH --array={{ array }}\n'
        '#SBATCH --constraint=haswell\n{% endblock %}\n'
        '{% block prologue %}module purge\n{{ super() }}{% endblock %}\n')
    plan = make_plan("slurm", 3, {"template_dir": str(tdir), "prologue": ["module load x"]},
                     tmp_path)
    text = plan.render()
    assert "#SBATCH --constraint=haswell" in text and "#SBATCH --time" not in text
    assert text.index("module purge") < text.index("module load x") < text.index("exec ")


@pytest.mark.parametrize("where", ["template_dir", "jug_templates", "user"])
def test_site_template_extends_the_builtin_of_the_same_name(tmp_path: Path, where: str) -> None:
    """The README's example, from each place templates are looked for."""
    folder = {"template_dir": tmp_path / "mytemplates",
              "jug_templates": tmp_path / "proj" / "jug_templates",
              "user": tmp_path / ".config" / "jug" / "templates"}[where]  # HOME is tmp_path
    text, builtin = _render_with_site_template("slurm", folder, where == "template_dir",
                                               tmp_path)
    assert text == builtin.replace("#\n# Written", "#SBATCH --constraint=haswell\n#\n# Written")


@pytest.mark.parametrize("scheduler,added,kept", [
    ("slurm", "#SBATCH --constraint=haswell",
     ("--signal=", "--output=", "--job-name=", "--chdir=", "--time=", "--array=")),
    ("pbs", "#PBS -l place=excl", ("-N ", "-J ", "-l walltime=", "-j oe", "-o ")),
    ("sge", "#$ -P myproject", ("-N ", "-t ", "-l h_rt=", "-l s_rt=", "-notify", "-wd ", "-o ")),
])
def test_readme_site_template_adds_one_line_and_drops_nothing(tmp_path: Path, scheduler: str,
                                                              added: str, kept: tuple) -> None:
    text, builtin = _render_with_site_template(scheduler, tmp_path / "t", True, tmp_path)
    assert text == builtin.replace("#\n# Written", f"{added}\n#\n# Written", 1)
    prefix = added.split()[0]
    for directive in kept:
        assert f"{prefix} {directive}" in text, directive


def _render_with_site_template(scheduler: str, folder: Path, as_template_dir: bool,
                               tmp_path: Path) -> tuple[str, str]:
    """(the script with the README's site template in ``folder``, the built-in script)."""
    folder.mkdir(parents=True)
    site = folder / f"{scheduler}.sh.j2"
    site.write_text(_readme_template(scheduler))
    plan = make_plan(scheduler, 64, {"template_dir": str(folder)} if as_template_dir else {},
                     tmp_path)
    plan.jugfile = str(tmp_path / "proj" / "jugfile.py")  # where jug_templates/ is looked for
    text = plan.render()
    site.unlink()
    return text, plan.render()


def _readme_template(scheduler: str) -> str:
    """The site template shown in examples/<scheduler>/README.md."""
    import re

    from support import ROOT

    readme = (ROOT / "examples" / scheduler / "README.md").read_text()
    blocks = re.findall(r"```jinja\n(.*?)```", readme, re.S)
    [block] = [b for b in blocks if f'extends "jug/{scheduler}.sh.j2"' in b]
    return block


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


# -- paths special to a directive parser (issue 10, item 9) ----------------------------------
def plan_in(folder: str, scheduler: str) -> JobPlan:
    """A plan whose project (and so log folder, store, stop file) lives in ``folder``."""
    return JobPlan.from_settings({"scheduler": scheduler, "workers": 2, "walltime": "1:00:00",
                                  "python": "/p", "pythonpath": "none"},
                                 f"{folder}/jugfile.py", workdir=folder)


@pytest.mark.parametrize("scheduler,lines", [
    ("slurm", ['#SBATCH --output="/home/my user/50%% it\'s #1 \\"x\\"/logs/%x_%A_%a.out"',
               '#SBATCH --chdir="/home/my user/50% it\'s #1 \\"x\\""']),
])
def test_slurm_directive_paths_are_double_quoted(scheduler: str, lines: list) -> None:
    folder = "/home/my user/50% it's #1 \"x\""
    text = plan_in(folder, scheduler).render()
    for line in lines:
        assert line in text.splitlines(), text
    assert "cd '/home/my user/50% it'\"'\"'s #1 \"x\"' || exit 1" in text


def test_sge_directive_paths_are_double_quoted() -> None:
    text = plan_in("/home/my user/50% $x", "sge").render().splitlines()
    assert '#$ -wd "/home/my user/50% $x"' in text
    assert '#$ -o "/home/my user/50% $x/logs/$JOB_NAME_$JOB_ID_$TASK_ID.out"' in text


def test_plain_paths_stay_bare() -> None:
    text = plan_in("/home/user/proj-1.2_x", "slurm").render()
    assert "#SBATCH --chdir=/home/user/proj-1.2_x\n" in text


@pytest.mark.parametrize("scheduler,folder,message", [
    ("slurm", "/home/a\\b", "'\\\\' makes the job fail to launch"),
    ("sge", "/home/it's", "\"'\" is dropped by SGE's directive parser"),
    ("sge", '/home/a"b', "is dropped by SGE's directive parser"),
    ("sge", "/home/a#b", "'#' starts a comment in an SGE directive"),
    ("sge", "/home/a:b", "':' is read as host:path by -o"),
    ("sge", "/home/a,b", "',' separates paths in -o"),
    ("sge", "/home/$USER/x", "$USER is expanded by SGE"),
    ("pbs", "/home/my user", "' ' would split the -o path"),
])
def test_paths_a_scheduler_cannot_express_are_refused(scheduler: str, folder: str,
                                                       message: str) -> None:
    from jug.hpc.job import SubmitError

    with pytest.raises(SubmitError) as err:
        plan_in(folder, scheduler).render()
    assert message in str(err.value)
    assert f"cannot take the path {folder!r}"[:-1] in str(err.value)  # the folder or its logs/


@pytest.mark.parametrize("scheduler", ["slurm", "sge", "pbs"])
def test_a_line_break_in_a_path_is_refused(scheduler: str) -> None:
    from jug.hpc.job import SubmitError

    with pytest.raises(SubmitError, match="contains a line break"):
        plan_in("/home/a\nb", scheduler)
