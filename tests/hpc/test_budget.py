"""The worker's time budget and the job script's settings, with the fake PBS (which runs the
rendered script like PBS does): the budget counts from the job's start, so a slow prologue
cannot eat the margin; workers ``jug submit`` starts keep going after a failed task.
"""

from __future__ import annotations

import re
from pathlib import Path

from support import FAILING, FAKEPBS, fast_idle_workers, project_status, side_effects


def _fake(tmp_path: Path) -> dict:
    fast_idle_workers(tmp_path)
    return {"FAKEPBS_DIR": str(tmp_path / "fakepbs"), "HOME": str(tmp_path),
            "FAKEPBS_SYNC": "1"}


def test_budget_counts_from_the_job_start_not_after_the_prologue(jug, project: Path,
                                                                 tmp_path: Path) -> None:
    """Walltime 60 s, margin 50 s: a 10 s budget, 6 s of it spent by the prologue.  The
    worker stops taking tasks 10 s after the job started (it took 16 s before)."""
    work = ("60", "0.5")
    p = jug("submit", "--scheduler", "pbs", "--walltime", "1:00", "--margin", "50s",
            "--prologue", f"date +%s.%N > {tmp_path}/t0", "--prologue", "sleep 6",
            "work.py", "--", *work, cwd=project, path_prefix=str(FAKEPBS), env=_fake(tmp_path),
            timeout=90)
    assert p.returncode == 0, p.stderr
    t0 = float((tmp_path / "t0").read_text())
    started, done = side_effects(project)
    assert 1 <= len(done) < 12, done  # about 3.5 s of work after the 6 s prologue
    side = project / "side"
    last_start = max(f.stat().st_mtime for f in side.iterdir() if f.name.startswith("start-"))
    assert last_start - t0 < 10.5, last_start - t0  # no task began after the budget
    [log] = [f.read_text() for f in (project / "logs").iterdir() if ".o" in f.name]
    budget = re.search(r"started: .*, budget (\d+)s", log)
    assert budget and int(budget.group(1)) <= 4, log  # 10 s less the prologue's 6 s
    assert "leaves: budget" in log, log
    assert project_status(jug, project, args=work)["locks"]["count"] == 0


def test_submitted_workers_keep_going_after_a_failure(jug, project: Path, tmp_path: Path) -> None:
    """One worker, six failing tasks: with the default it records every failure (it used to
    leave at the first); ``--no-keep-going`` restores stopping at the first."""
    (project / "bad.py").write_text(FAILING)
    env = _fake(tmp_path)
    p = jug("submit", "--scheduler", "pbs", "bad.py", cwd=project, path_prefix=str(FAKEPBS),
            env=env)
    assert p.returncode == 0, p.stderr
    assert project_status(jug, project, "bad.py")["total"]["failed"] == 6
    script = next((project / "logs").glob("*.sh")).read_text()
    assert " execute --jugdir " in script and " --keep-going " in script
    other = project.parent / "other"
    other.mkdir()
    (other / "bad.py").write_text(FAILING)
    p = jug("submit", "--scheduler", "pbs", "--no-keep-going", "bad.py", cwd=other,
            path_prefix=str(FAKEPBS), env=env)
    assert p.returncode == 0, p.stderr
    assert project_status(jug, other, "bad.py")["total"]["failed"] == 1
