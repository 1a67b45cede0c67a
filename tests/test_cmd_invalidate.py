"""``jug invalidate --target NAME``: the named tasks and their dependents lose their results."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    CHAIN,
    make_jugdir,
    marks,
    ok,
    run_jug,
    status,
    write_jugfile,
)


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def jugdir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The file store, and Redis."""
    return make_jugdir(request.param, request, tmp_path)


def _finished(st: dict) -> dict[str, int]:
    return {name.split(".", 1)[1]: c["finished"] for name, c in st["tasks"].items()}


def test_invalidate_removes_dependents_through_tasklets(tmp_path: Path, jugdir: str) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    ok("execute", jf, "--jugdir", jugdir)
    before = marks(tmp_path)
    p = ok("invalidate", jf, "--jugdir", jugdir, "--target", "pair")
    # pair -> pick (through the Tasklet pair[0]) -> report lose their results; load/other stay
    assert _finished(status(jf, jugdir)) == {"load": 3, "pair": 0, "pick": 0, "report": 0,
                                             "other": 2}
    lines = {ln.split()[0]: ln for ln in p.stdout.splitlines() if ln.startswith("  jugfile.")}
    assert set(lines) == {"jugfile.pair", "jugfile.pick", "jugfile.report"}
    assert "3 result(s)" in lines["jugfile.pair"] and "1 result(s)" in lines["jugfile.report"]
    assert "Total: 7 result(s)" in p.stdout
    ok("execute", jf, "--jugdir", jugdir)
    after = marks(tmp_path)
    reran = sorted(k for k in after if after[k] != before.get(k))
    assert reran == ["pair0", "pair1", "pair2", "pick0", "pick1", "pick2", "report"]


def test_invalidate_exact_suffix_and_prefix_names(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    # full name: only 'report' (a leaf)
    p = ok("invalidate", jf, "--jugdir", jd, "--target", "jugfile.report")
    assert "Total: 1 result(s)" in p.stdout
    ok("execute", jf, "--jugdir", jd)
    # a prefix matching 'pick' and 'pair' would be 'jugfile.p'
    p = ok("invalidate", jf, "--jugdir", jd, "--target", "jugfile.p", "--dry-run")
    assert "Would remove" in p.stdout and "Total: 7 result(s)" in p.stdout
    assert _finished(status(jf, jd))["pair"] == 3  # dry run removed nothing
    p = ok("invalidate", jf, "--jugdir", jd, "--target", "other")
    assert "Total: 2 result(s)" in p.stdout
    assert _finished(status(jf, jd)) == {"load": 3, "pair": 3, "pick": 3, "report": 1,
                                         "other": 0}


def test_invalidate_clears_failure_marks_so_tasks_rerun(tmp_path: Path) -> None:
    src = """
    import os
    from jug import TaskGenerator
    FLAG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ok")
    @TaskGenerator
    def flaky(i):
        if not os.path.exists(FLAG):
            raise RuntimeError("not yet")
        return i
    t = flaky(1)
    """
    jf = write_jugfile(tmp_path, src)
    jd = tmp_path / "d.jugdata"
    assert run_jug("execute", jf, "--jugdir", jd).returncode != 0
    (tmp_path / "ok").write_text("")
    p = ok("invalidate", jf, "--jugdir", jd, "--target", "flaky")
    assert "1 failure mark" in p.stdout
    ok("execute", jf, "--jugdir", jd)
    assert status(jf, jd)["total"]["finished"] == 1


def test_invalidate_unknown_name_lists_known_names(tmp_path: Path, jugdir: str) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    ok("execute", jf, "--jugdir", jugdir)
    p = run_jug("invalidate", jf, "--jugdir", jugdir, "--target", "nosuchtask")
    assert p.returncode != 0
    assert "no task is named 'nosuchtask'" in p.stderr
    for name in ("jugfile.load", "jugfile.pair", "jugfile.pick", "jugfile.report"):
        assert name in p.stderr
    assert status(jf, jugdir)["total"]["finished"] == 3 + 3 + 3 + 1 + 2  # nothing removed


def test_invalidate_without_target_is_an_error(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    p = run_jug("invalidate", jf, "--jugdir", tmp_path / "d.jugdata")
    assert p.returncode == 2 and "--target" in p.stderr
