"""``jug submit`` from the command line: bad input, profiles and their precedence, dry runs.

Nothing here needs a scheduler: bad input must be caught before any scheduler command runs,
and where a command would run, the fake PBS on PATH records it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FAKEPBS


def test_dry_run_prints_script_command_and_merged_values(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "--workers", "5", "--walltime", "2:00:00",
            "--partition", "short", "--dry-run", "work.py", "--", "4", "0", cwd=project)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "#SBATCH --array=0-4" in out and "#SBATCH --partition=short" in out
    assert "submit command: sbatch --parsable" in out
    assert "queue            short  <- command line" in out
    assert "margin           00:12:00  <- derived" in out
    assert "tasks: 0 waiting, 4 ready" in out
    assert (f"-m jug execute --jugdir {project}/work.jugdata --keep-going {project}/work.py "
            f"-- 4 0") in out
    assert not (project / "logs").exists() and not (project / "work.jugdata").exists()


@pytest.mark.parametrize("args,message", [
    (["--scheduler", "moab"], "unknown scheduler 'moab'"),
    (["--scheduler", "slurm", "--workers", "0"], "--workers must be at least 1"),
    (["--scheduler", "slurm", "--workers", "many"], "--workers must be a whole number"),
    (["--scheduler", "slurm", "--walltime", "4 hours"], "malformed walltime '4 hours'"),
    (["--scheduler", "slurm", "--walltime", "60"], "malformed walltime '60'"),
    (["--scheduler", "slurm", "--walltime", "00:04:00"],
     "walltime 00:04:00 is not longer than the margin 00:05:00"),
    (["--scheduler", "sge", "--walltime", "1:00:00", "--margin", "2h"],
     "not longer than the margin 02:00:00"),
    (["--scheduler", "slurm", "--mem", "lots"], "malformed memory 'lots'"),
    (["--scheduler", "slurm", "--jugdir", "dict_store"], "shared store"),
    (["--scheduler", "slurm", "--template-dir", "/nonexistent/t"], "no such directory"),
    (["--scheduler", "slurm", "--directive=--time=10:00"], "use --walltime instead"),
])
def test_bad_input_is_refused_before_anything_runs(jug, project: Path, tmp_path: Path,
                                                  args: list, message: str) -> None:
    p = jug("submit", *args, "work.py", cwd=project, path_prefix=str(FAKEPBS),
            env={"FAKEPBS_DIR": str(tmp_path / "fakepbs")})
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr
    assert not (tmp_path / "fakepbs" / "calls.jsonl").exists()
    assert not (project / "logs").exists()


def test_missing_jugfile(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "nothere.py", cwd=project)
    assert p.returncode == 2 and "jugfile 'nothere.py' not found" in p.stderr


def test_jugfile_that_fails_to_import_is_caught_before_submitting(jug, project: Path,
                                                                  tmp_path: Path) -> None:
    (project / "broken.py").write_text("import numpy_does_not_exist\n")
    state = tmp_path / "fakepbs"
    p = jug("submit", "--scheduler", "pbs", "broken.py", cwd=project, path_prefix=str(FAKEPBS),
            env={"FAKEPBS_DIR": str(state)})
    assert p.returncode == 2
    assert "does not load, nothing was submitted" in p.stderr
    assert "numpy_does_not_exist" in p.stderr
    assert not (state / "calls.jsonl").exists()  # qsub never ran


def test_submit_command_missing(jug, project: Path) -> None:
    _write(project / "jug-submit.yaml", "submit-command: sbatch-not-installed --parsable\n")
    p = jug("submit", "--scheduler", "slurm", "work.py", cwd=project)
    assert p.returncode == 1
    assert "'sbatch-not-installed' not found on PATH" in p.stderr


def test_no_scheduler_and_none_on_path(jug, project: Path, tmp_path: Path) -> None:
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    p = jug("submit", "work.py", cwd=project, env={"PATH": str(bindir)})
    assert p.returncode == 2 and "no scheduler given and none found on PATH" in p.stderr


def test_stop_file_present_refuses(jug, project: Path) -> None:
    (project / "STOP").touch()
    p = jug("submit", "--scheduler", "pbs", "work.py", cwd=project, path_prefix=str(FAKEPBS))
    assert p.returncode == 2 and "STOP exists" in p.stderr


def test_cancel_with_nothing_submitted(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "--cancel", "work.py", cwd=project)
    assert p.returncode == 0 and "no submitted arrays recorded" in p.stdout


# -- profiles ------------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _settings(out: str) -> dict:
    vals = {}
    for line in out.splitlines():
        if line.startswith("#   ") and "<-" in line:
            key, rest = line[4:].split(None, 1)
            value, src = rest.rsplit("  <- ", 1)
            vals[key] = (value.strip(), src.strip())
    return vals


def test_profile_precedence_user_project_command_line(jug, project: Path, tmp_path: Path) -> None:
    user = _write(tmp_path / "user" / "submit.yaml", """
default-profile: mycluster
walltime: "08:00:00"
mycluster:
  scheduler: sge
  queue: user.q
  account: userproj
  mem: 2G
  prologue: ["module load python"]
""")
    _write(project / "jug-submit.yaml", """
mycluster:
  queue: project.q
  account: projacct
""")
    p = jug("submit", "--account", "cliacct", "--dry-run", "--no-check", "work.py", cwd=project,
            env={"JUG_SUBMIT_CONFIG": str(user)})
    assert p.returncode == 0, p.stderr
    vals = _settings(p.stdout)
    assert vals["scheduler"] == ("sge", f"{user} [mycluster]")
    assert vals["walltime"] == ("08:00:00", str(user))
    assert vals["queue"] == ("project.q", f"{project / 'jug-submit.yaml'} [mycluster]")
    assert vals["account"] == ("cliacct", "command line")
    assert "#$ -q project.q" in p.stdout and "#$ -A cliacct" in p.stdout
    assert "#$ -l h_vmem=2G" in p.stdout and "\nmodule load python\n" in p.stdout


def test_profile_from_a_parent_folder_and_profile_option(jug, project: Path, tmp_path: Path) -> None:
    _write(tmp_path / "jug-submit.yaml", """
small: {scheduler: pbs, workers: 2, walltime: "0:30:00"}
big: {scheduler: pbs, workers: 40, walltime: "12:00:00", directive: ["-l place=scatter"]}
""")
    p = jug("submit", "--profile", "big", "--directive", "-m abe", "--dry-run", "--no-check",
            "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    assert "#PBS -J 0-39" in p.stdout and "#PBS -l walltime=12:00:00" in p.stdout
    assert "#PBS -l place=scatter" in p.stdout and "#PBS -m abe" in p.stdout


def test_unknown_profile_and_unknown_option(jug, project: Path) -> None:
    _write(project / "jug-submit.yaml", "small: {scheduler: pbs}\n")
    p = jug("submit", "--profile", "huge", "--dry-run", "work.py", cwd=project)
    assert p.returncode == 2 and "profile 'huge' not found" in p.stderr and "small" in p.stderr
    _write(project / "jug-submit.yaml", "small: {scheduler: pbs, wall-tme: '1:00:00'}\n")
    p = jug("submit", "--profile", "small", "--dry-run", "work.py", cwd=project)
    assert p.returncode == 2 and "unknown option 'wall-tme'" in p.stderr
    assert "did you mean 'walltime'" in p.stderr


def test_jugrc_submit_section_is_honoured(jug, project: Path) -> None:
    _write(project / "jugrc", "submit:\n  queue: fromrc\n")
    p = jug("submit", "--scheduler", "slurm", "--dry-run", "--no-check", "work.py", cwd=project,
            env={"JUG_CONFIG": "/nonexistent"})
    assert p.returncode == 0, p.stderr
    assert "#SBATCH --partition=fromrc" in p.stdout


def test_split_by_max_array_size_in_dry_run(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "--workers", "5", "--max-array-size", "2",
            "--dry-run", "--no-check", "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("#SBATCH --array=0-1\n") == 2 and "#SBATCH --array=0-0\n" in p.stdout
    assert "script 3/3 (1 worker)" in p.stdout


def test_nothing_left_to_do(jug, project: Path, tmp_path: Path) -> None:
    r = jug("execute", "work.py", "--", "2", "0", cwd=project)
    assert r.returncode == 0, r.stderr
    state = tmp_path / "fakepbs"
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=project,
            path_prefix=str(FAKEPBS), env={"FAKEPBS_DIR": str(state)})
    assert p.returncode == 0 and "nothing to do" in p.stdout
    assert not (state / "calls.jsonl").exists()


def test_state_is_json_serialisable_in_store(jug, project: Path, tmp_path: Path) -> None:
    """A submission leaves one state document per array (checked through the store API)."""
    state = tmp_path / "fakepbs"
    p = jug("submit", "--scheduler", "pbs", "--workers", "3", "--max-array-size", "2",
            "work.py", "--", "3", "0", cwd=project, path_prefix=str(FAKEPBS),
            env={"FAKEPBS_DIR": str(state), "FAKEPBS_SYNC": "1"})
    assert p.returncode == 0, p.stderr
    from jug.backends import select_store
    from jug.hpc.job import submitted_arrays

    docs = submitted_arrays(select_store(str(project / "work.jugdata")), str(project / "work.py"))
    assert sorted(d["size"] for d in docs.values()) == [1, 2]
    for d in docs.values():
        json.dumps(d)
        assert d["scheduler"] == "pbs" and Path(d["script"]).is_file()


@pytest.mark.parametrize("example,marker", [("slurm", "#SBATCH --partition=short"),
                                            ("pbs", "#PBS -q workq"), ("sge", "#$ -q all.q")])
def test_examples_render_with_their_profiles(jug, tmp_path: Path, example: str,
                                             marker: str) -> None:
    import shutil

    from support import ROOT

    dest = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, dest)
    p = jug("submit", "--dry-run", "jugfile.py", cwd=dest)
    assert p.returncode == 0, p.stderr
    assert marker in p.stdout and "module load python/3.11" in p.stdout
    assert "tasks: 1 waiting, 200 ready" in p.stdout
    assert (dest / "README.md").read_text().count("jug submit") >= 5


def test_scheduler_detected_from_path(jug, project: Path, tmp_path: Path) -> None:
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    (bindir / "python3").symlink_to(sys.executable)
    p = jug("submit", "--dry-run", "--no-check", "work.py", cwd=project,
            env={"PATH": f"{FAKEPBS}:{bindir}"})
    assert p.returncode == 0, p.stderr
    assert "scheduler        pbs  <- derived" in p.stdout and "#PBS -N jug-work" in p.stdout


# -- output etiquette (issue 10, items 11 and 12) --------------------------------------------
def test_closed_pipe_ends_quietly(project: Path) -> None:
    """``jug submit --dry-run ... | head -1``: no BrokenPipeError traceback, exit 141."""
    import subprocess
    import sys

    from support import base_env

    cmd = [sys.executable, "-m", "jug", "submit", "--scheduler", "slurm", "--dry-run",
           "--no-check", "--workers", "400", "--max-array-size", "1", "work.py"]
    proc = subprocess.Popen(cmd, cwd=project, env=base_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("# jug submit --dry-run")
    proc.stdout.close()  # what head does after its first line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_dry_run_warns_about_more_workers_than_tasks(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "--workers", "10", "--dry-run", "work.py", "--",
            "4", "0", cwd=project)
    assert p.returncode == 0, p.stderr
    assert ("# WARNING: 10 workers for 4 unfinished tasks: the extra workers will find "
            "nothing to do and exit") in p.stdout
    p = jug("submit", "--scheduler", "slurm", "--workers", "4", "--dry-run", "work.py", "--",
            "4", "0", cwd=project)
    assert p.returncode == 0 and "WARNING" not in p.stdout


def test_help_shows_check_default_and_no_negated_one_shot_actions(jug, project: Path) -> None:
    p = jug("submit", "--help", cwd=project)
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "--check, --no-check Load the jugfile" in text and "(default: True)" in text
    for action in ("dry-run", "cancel", "watch", "once"):
        assert f"--{action}" in text and f"--no-{action}" not in text
    p = jug("submit", "--no-dry-run", "work.py", cwd=project)
    assert p.returncode == 2 and "unrecognized arguments: --no-dry-run" in p.stderr


@pytest.mark.parametrize("scheduler,listed", [("slurm", False), ("pbs", False), ("sge", True)])
def test_dry_run_lists_only_settings_the_scheduler_uses(jug, project: Path, scheduler: str,
                                                        listed: bool) -> None:
    p = jug("submit", "--scheduler", scheduler, "--dry-run", "--no-check", "work.py",
            cwd=project)
    assert p.returncode == 0, p.stderr
    assert ("parallel-env" in _settings(p.stdout)) is listed


def test_unexpressible_path_is_refused_before_submitting(jug, tmp_path: Path) -> None:
    """PBS's -o cannot take a path with a space: a clear error, qsub never runs."""
    import shutil

    from support import JUGFILES

    proj = tmp_path / "my project"
    proj.mkdir()
    shutil.copy(JUGFILES / "work.py", proj / "work.py")
    state = tmp_path / "fakepbs"
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=proj,
            path_prefix=str(FAKEPBS), env={"FAKEPBS_DIR": str(state)})
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith(f"jug submit: pbs cannot take the path '{proj}/logs'")
    assert "Traceback" not in p.stderr and not (state / "calls.jsonl").exists()
    assert not (proj / "logs").exists()
