"""``jug check`` and ``jug sleep-until`` end to end: exit codes, barriers, failures, polling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support import (
    BARRIER,
    CHAIN,
    make_jugdir,
    ok,
    run_jug,
    start_jug,
    stop,
    write_jugfile,
)

FAILING = """
from jug import TaskGenerator

@TaskGenerator
def good(i):
    return i

@TaskGenerator
def bad(x):
    raise ValueError("bad task on purpose")

@TaskGenerator
def after(x):
    return x

g = [good(i) for i in range(2)]
a = after(bad(g[0]))
"""


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def jugdir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The file store, and Redis."""
    return make_jugdir(request.param, request, tmp_path)


def test_check_is_1_until_every_task_is_finished(tmp_path: Path, jugdir: str) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    p = run_jug("check", jf, "--jugdir", jugdir)
    assert p.returncode == 1, p.stderr
    ok("execute", jf, "--jugdir", jugdir, "--target", "jugfile.other")
    assert run_jug("check", jf, "--jugdir", jugdir).returncode == 1  # only some finished
    ok("execute", jf, "--jugdir", jugdir)
    p = ok("check", jf, "--jugdir", jugdir)
    assert p.stdout == ""  # quiet by default
    p = ok("check", jf, "--jugdir", jugdir, "--verbose", "info")
    assert "finished" in p.stdout and "0 waiting" in p.stdout


def test_check_counts_an_unmet_barrier_as_not_done(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, BARRIER)
    jd = tmp_path / "d.jugdata"
    p = run_jug("check", jf, "--jugdir", jd, "--verbose", "info")
    assert p.returncode == 1 and "barrier" in p.stderr
    ok("execute", jf, "--jugdir", jd, "--target", "jugfile.first")
    # past the barrier now, but the task after it has not run
    p = run_jug("check", jf, "--jugdir", jd, "--verbose", "info")
    assert p.returncode == 1 and "1 ready" in p.stdout and "barrier" not in p.stderr
    ok("execute", jf, "--jugdir", jd)
    ok("check", jf, "--jugdir", jd)


def test_check_with_failed_task_and_broken_jugfile(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    jd = tmp_path / "d.jugdata"
    assert run_jug("execute", jf, "--jugdir", jd, "--keep-going").returncode != 0
    assert run_jug("check", jf, "--jugdir", jd).returncode == 1
    broken = write_jugfile(tmp_path, "raise RuntimeError('cannot load 17')\n", "broken.py")
    p = run_jug("check", broken)
    assert p.returncode == 2 and "cannot load 17" in p.stderr


def test_sleep_until_returns_when_workers_finish_past_a_barrier(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, BARRIER)
    jd = tmp_path / "d.jugdata"
    sleeper = start_jug("sleep-until", jf, "--jugdir", jd, "--poll-interval", "0.1")
    try:
        time.sleep(1.0)
        assert sleeper.poll() is None, stop(sleeper)  # nothing ran yet: still waiting
        ok("execute", jf, "--jugdir", jd, "--target", "jugfile.first")
        time.sleep(1.0)
        assert sleeper.poll() is None, stop(sleeper)  # barrier passed, 'second' not run yet
        ok("execute", jf, "--jugdir", jd)
        assert sleeper.wait(timeout=20) == 0, stop(sleeper)
    finally:
        stop(sleeper)


def test_sleep_until_is_immediate_when_done(tmp_path: Path, jugdir: str) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    ok("execute", jf, "--jugdir", jugdir)
    t0 = time.monotonic()
    ok("sleep-until", jf, "--jugdir", jugdir, "--poll-interval", "30")
    assert time.monotonic() - t0 < 15


def test_sleep_until_stops_when_the_rest_depends_on_a_failure(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    jd = tmp_path / "d.jugdata"
    run_jug("execute", jf, "--jugdir", jd, "--keep-going")
    p = run_jug("sleep-until", jf, "--jugdir", jd, "--poll-interval", "30", timeout=20)
    assert p.returncode == 1
    assert "jugfile.bad" in p.stderr and "cleanup --failed-only" in p.stderr


def test_sleep_until_timeout(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    t0 = time.monotonic()
    p = run_jug("sleep-until", jf, "--jugdir", tmp_path / "d.jugdata", "--poll-interval", "0.1",
                "--timeout", "0.5")
    assert p.returncode == 3 and "timed out" in p.stderr
    assert time.monotonic() - t0 < 10
