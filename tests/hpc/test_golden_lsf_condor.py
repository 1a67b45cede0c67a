"""Rendered LSF and HTCondor job scripts, planner jobs and submit descriptions, compared with
reviewed golden files (``JUG_UPDATE_GOLDEN=1`` rewrites them; review the diff)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import GOLDEN
from test_submit_golden import FULL, _render_with_site_template, make_plan

from jug.hpc.chain.planner import render_planner

CASES = {
    "lsf_basic": ("lsf", 64, {}),
    "lsf_full": ("lsf", 16, {**FULL, "directive": ['-R "select[type==X86_64]"']}),
    "htcondor_basic": ("htcondor", 64, {}),
    "htcondor_full": ("htcondor", 16, {**{k: v for k, v in FULL.items() if k != "queue"},
                                       "directive": ['requirements = (OpSys == "LINUX")']}),
}


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("JUG_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}: run with JUG_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text()


def check_shells(text: str, tmp_path: Path) -> None:
    """bash (and /bin/sh: LSF may run the spooled script with it) parse the script."""
    script = tmp_path / "s.sh"
    script.write_text(text)
    for shell in ("bash", "sh"):
        syntax = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, (shell, syntax.stderr)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_script_matches_golden(case: str, tmp_path: Path) -> None:
    scheduler, workers, extra = CASES[case]
    text = make_plan(scheduler, workers, extra, tmp_path).render()
    check_golden(f"{case}.sh", text)
    check_shells(text, tmp_path)


@pytest.mark.parametrize("name", ["lsf", "htcondor"])
def test_planner_script_matches_golden(name: str, tmp_path: Path) -> None:
    extra = {"account": "proj42", "mem": "4G", "cpus_per_task": 4}
    plan = make_plan(name, 4, {**extra, **({"queue": "short"} if name == "lsf" else {})},
                     tmp_path)
    text = render_planner(plan, 3, ["4711", "4712"])
    check_golden(f"{name}_planner.sh", text)
    check_shells(text, tmp_path)
    assert "--generation 3 --walltime 600 /home/user/proj/jugfile.py" in text
    assert "rusage" not in text and "request_memory" not in text  # smallest resources


def test_htcondor_submit_description_matches_golden(tmp_path: Path) -> None:
    """What condor_submit reads: the executable, the #HTCONDOR lines, queue last."""
    scheduler, workers, extra = CASES["htcondor_full"]
    plan = make_plan(scheduler, workers, extra, tmp_path)
    script = Path("/home/user/proj/logs/sim_20240101-120000.sh")
    local = tmp_path / script.name
    local.write_text(plan.render())
    text = plan.scheduler.description(str(local)).replace(str(local), str(script))
    check_golden("htcondor_full.sub", text)


@pytest.mark.parametrize("scheduler,added,kept", [
    ("lsf", '#BSUB -R "select[type==X86_64]"', ("-J ", "-W ", "-o ", "-cwd ", "-wa ", "-wt ")),
    ("htcondor", '#HTCONDOR +JobFlavour = "workday"',
     ("universe = ", "initialdir = ", "periodic_remove = ", "environment = ", "queue ")),
])
def test_readme_site_template_adds_one_line_and_drops_nothing(tmp_path: Path, scheduler: str,
                                                              added: str, kept: tuple) -> None:
    """The site template of examples/<scheduler>/README.md extends the built-in."""
    text, builtin = _render_with_site_template(scheduler, tmp_path / "t", True, tmp_path)
    assert text == builtin.replace("#\n# Written", f"{added}\n#\n# Written", 1)
    prefix = added.split()[0]
    for directive in kept:
        assert f"{prefix} {directive}" in text, directive
