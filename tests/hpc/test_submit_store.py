"""``jug submit`` and its store: checked before submitting, the Redis password kept secret.

Issue 10 item 8 (an unwritable or uncreatable --jugdir), issue 11 item 9 (the Redis password
never printed, written into a job script or put on a command line).  The fake PBS on PATH
records every qsub call and runs the jobs locally with a bare environment.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from support import FAKEPBS


@contextmanager
def frozen(path: Path) -> Iterator[None]:
    """Make the folder ``path`` unwritable, even for root (immutable attribute)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o700)


def fake_env(tmp_path: Path, **extra: str) -> dict:
    """The environment of a jug submit that talks to the fake PBS in ``tmp_path``."""
    return {"FAKEPBS_DIR": str(tmp_path / "fakepbs"), **extra}


def qsub_calls(tmp_path: Path) -> int:
    """How many times the fake qsub ran."""
    calls = tmp_path / "fakepbs" / "calls.jsonl"
    return sum('"cmd": "qsub"' in ln for ln in calls.read_text().splitlines()) \
        if calls.exists() else 0


# -- an unusable store stops the submission before any array exists (issue 10, item 8) ------
def test_uncreatable_jugdir_stops_before_submitting(jug, project: Path, tmp_path: Path) -> None:
    (project / "afile").write_text("not a folder")
    p = jug("submit", "--scheduler", "pbs", "--jugdir", "afile/store", "work.py", "--", "2",
            "0", cwd=project, path_prefix=str(FAKEPBS), env=fake_env(tmp_path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith("jug submit: cannot ") and f"{project}/afile/store" in p.stderr
    assert "Traceback" not in p.stderr
    assert qsub_calls(tmp_path) == 0 and not (project / "logs").exists()


def test_unwritable_jugdir_stops_before_submitting(jug, project: Path, tmp_path: Path) -> None:
    store = project / "work.jugdata"
    store.mkdir()
    with frozen(store):
        p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=project,
                path_prefix=str(FAKEPBS), env=fake_env(tmp_path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"jugdir {store}" in p.stderr or f"store {store}" in p.stderr
    assert "nothing was submitted" in p.stderr and "Traceback" not in p.stderr
    assert qsub_calls(tmp_path) == 0 and not (project / "logs").exists()


def test_record_failure_after_submitting_says_how_to_cancel(jug, project: Path,
                                                            tmp_path: Path) -> None:
    """The store turns read-only between the probe and the record (here: inside qsub)."""
    records = project / "work.jugdata" / "docs" / "submit"
    wrapper = tmp_path / "qsub-then-freeze"
    wrapper.write_text(f"#!/bin/bash\nchattr +i {records} 2>/dev/null || chmod 500 {records}\n"
                       f'exec {FAKEPBS}/qsub "$@"\n')
    wrapper.chmod(0o755)
    (project / "jug-submit.yaml").write_text(f"submit-command: {wrapper}\n")
    try:
        p = jug("submit", "--scheduler", "pbs", "--workers", "2", "work.py", "--", "2", "0",
                cwd=project, path_prefix=str(FAKEPBS), env=fake_env(tmp_path))
    finally:
        subprocess.run(["chattr", "-i", str(records)], capture_output=True)
        records.chmod(0o700)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert qsub_calls(tmp_path) == 1
    assert "submitted pbs array 1[].fakeserver (2 worker(s)) but could not record it" in p.stderr
    assert "to cancel it run: qdel '1[].fakeserver'" in p.stderr
    assert not list(records.iterdir())


def test_rejected_submission_leaves_no_script(jug, project: Path, tmp_path: Path) -> None:
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=project,
            path_prefix=str(FAKEPBS), env=fake_env(tmp_path, FAKEPBS_QSUB_EXIT="1"))
    assert p.returncode == 1 and "Job rejected" in p.stderr
    assert qsub_calls(tmp_path) == 1
    assert not (project / "logs").exists()  # made for the script, removed with it
    (project / "logs").mkdir()
    (project / "logs" / "old.out").write_text("earlier log")
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=project,
            path_prefix=str(FAKEPBS), env=fake_env(tmp_path, FAKEPBS_QSUB_EXIT="1"))
    assert p.returncode == 1
    assert [f.name for f in (project / "logs").iterdir()] == ["old.out"]


def test_unparsable_submit_output_keeps_the_script(jug, project: Path, tmp_path: Path) -> None:
    """qsub exited 0 but printed no job id: the array may be queued and need its script."""
    p = jug("submit", "--scheduler", "pbs", "work.py", "--", "2", "0", cwd=project,
            path_prefix=str(FAKEPBS), env=fake_env(tmp_path, FAKEPBS_QSUB_STDOUT="Thank you"))
    assert p.returncode == 1 and "cannot find a job id" in p.stderr
    assert len(list((project / "logs").glob("*.sh"))) == 1


# -- the Redis password (issue 11, item 9) -------------------------------------------------
def test_dry_run_never_shows_the_password(jug, project: Path) -> None:
    p = jug("submit", "--scheduler", "slurm", "--jugdir", "redis://:pw-SECRET-42@127.0.0.1:9/0",
            "--dry-run", "--no-check", "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    assert "pw-SECRET-42" not in p.stdout + p.stderr
    assert "--jugdir redis://127.0.0.1:9/0 " in p.stdout
    assert (f"JUG_REDIS_PASSWORD=$(cat {project}/logs/.jug-redis-password) || exit 1\n"
            "export JUG_REDIS_PASSWORD\n") in p.stdout


@pytest.mark.redis
@pytest.mark.parametrize("given", ["url", "environment"])
def test_workers_get_the_password_from_a_private_file(jug, project: Path, tmp_path: Path,
                                                      redis_password_url: str,
                                                      given: str) -> None:
    """A real password-protected Redis; the fake PBS runs the script in a bare environment."""
    from redis_fixture import PASSWORD

    public = redis_password_url.replace(f":{PASSWORD}@", "")
    env = fake_env(tmp_path, FAKEPBS_SYNC="1")
    if given == "environment":
        env["JUG_REDIS_PASSWORD"] = PASSWORD
    jugdir = redis_password_url if given == "url" else public
    argv_log = tmp_path / "argv.log"  # what `ps` would show of every python jug starts
    python = tmp_path / "python"
    python.write_text(f'#!/bin/bash\necho "$@" >> {argv_log}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    old = os.umask(0o027)
    try:
        p = jug("submit", "--scheduler", "pbs", "--workers", "2", "--jugdir", jugdir,
                "--python", str(python), "work.py", "--", "3", "0", cwd=project,
                path_prefix=str(FAKEPBS), env=env)
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stdout + p.stderr
    assert PASSWORD not in p.stdout + p.stderr
    calls = argv_log.read_text()
    assert "-m jug status --json" in calls and "execute" in calls and PASSWORD not in calls
    secret = project / "logs" / ".jug-redis-password"
    assert secret.read_text() == PASSWORD and stat.S_IMODE(secret.stat().st_mode) == 0o600
    [script] = (project / "logs").glob("*.sh")
    assert PASSWORD not in script.read_text() and f"--jugdir {public} " in script.read_text()
    assert stat.S_IMODE(script.stat().st_mode) == 0o750  # the umask, not a forced 0755
    for f in (project / "logs").glob("*"):  # worker logs, records: no password anywhere
        assert f == secret or PASSWORD not in f.read_text(errors="replace"), f
    st = jug("status", "--json", "--jugdir", public, "work.py", "--", "3", "0", cwd=project,
             env={"JUG_REDIS_PASSWORD": PASSWORD})
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["total"]["finished"] == 3


def test_password_in_a_profile_env_goes_to_the_file_too(jug, project: Path) -> None:
    (project / "jug-submit.yaml").write_text("env: {JUG_REDIS_PASSWORD: pw-SECRET-43, X: 'y'}\n")
    p = jug("submit", "--scheduler", "sge", "--jugdir", "redis://127.0.0.1:9/0", "--dry-run",
            "--no-check", "work.py", cwd=project)
    assert p.returncode == 0, p.stderr
    assert "pw-SECRET-43" not in p.stdout + p.stderr
    assert "export X=y\n" in p.stdout and "JUG_REDIS_PASSWORD=$(cat " in p.stdout
