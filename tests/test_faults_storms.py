"""Fault-injection storms (issue 11, "The suite"): races, kill -9 and SIGTERM storms, on the
file store and on Redis.  Each prints its figures and asserts them (see faults_support)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faults_support import Figures, Pool, check_values, counted_jugfile, kill9, sigterm, tally
from support import make_jugdir

from jug.backends import select_store

pytestmark = pytest.mark.faults
KINDS = ["file", pytest.param("redis", marks=pytest.mark.redis)]
#: workers give up only after this long idle (an owner-less lock waits 10 s to count as dead)
PATIENT = ("--nr-wait-cycles", "60", "--wait-cycle-time", "0.25")


def _finish(fig: Figures, pool: Pool, jf: Path, jugdir: str, log: Path) -> Figures:
    """Drain the pool, run one last worker to the end, then tally and check the values."""
    pool.drain()
    last = Pool(jf, jugdir, 1, PATIENT)
    last.reap(replace=True)
    last.drain()
    assert last.exits == {0: 1}, last.stderr
    tally(fig, log, pool.hit)
    return check_values(fig, select_store(jugdir), jf)


@pytest.mark.parametrize("kind", KINDS)
def test_race_8_workers(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    n = 2000
    jf, log = counted_jugfile(tmp_path, n)
    jugdir = make_jugdir(kind, request, tmp_path)
    pool = Pool(jf, jugdir, 8, PATIENT)
    pool.reap(replace=True)
    pool.drain()
    assert pool.exits == {0: 8}, pool.stderr
    fig = check_values(tally(Figures(f"race, 8 workers, {kind}", n), log, set()), select_store(jugdir), jf)
    fig.check()
    assert fig.runs == n and fig.reruns == 0


@pytest.mark.parametrize("kind", KINDS)
def test_kill9_storm_with_replacements(kind: str, request: pytest.FixtureRequest,
                                       tmp_path: Path) -> None:
    n, kills = 400, 30
    jf, log = counted_jugfile(tmp_path, n, sleep=0.05)
    jugdir = make_jugdir(kind, request, tmp_path)
    pool = Pool(jf, jugdir, 4, PATIENT)
    fig = Figures(f"kill -9 storm, {kind}", n)
    fig.faults = pool.storm(kills, 0.2, kill9, random.Random(11), log, anywhere=0.2)
    pool.drain()
    fig.extra["owner-less locks left"] = sum(
        1 for o in select_store(jugdir).list_locks().values() if o.get("empty"))
    _finish(fig, pool, jf, jugdir, log)
    fig.extra["worker exits"] = dict(pool.exits)
    fig.check()
    assert fig.reruns <= kills


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_at_random_points(kind: str, request: pytest.FixtureRequest,
                                  tmp_path: Path) -> None:
    n, terms = 400, 25
    jf, log = counted_jugfile(tmp_path, n, sleep=0.05)
    jugdir = make_jugdir(kind, request, tmp_path)
    pool = Pool(jf, jugdir, 4, PATIENT)
    fig = Figures(f"SIGTERM storm, {kind}", n)
    fig.faults = pool.storm(terms, 0.2, sigterm, random.Random(12), log, anywhere=0.3)
    pool.drain()
    leaked = [o for o in select_store(jugdir).list_locks().values()
              if o.get("pid") in pool.hit or o.get("empty")]
    fig.extra["locks left by signalled workers"] = len(leaked)
    # -15: signalled while Python was still starting, before jug set its handler
    assert set(pool.exits) <= {0, 143, -15}, pool.stderr
    late = {pool.codes[p] for p in pool.hit - pool.early}
    assert late <= {0, 143}, late  # signalled after its first task: always jug's clean stop
    fig.extra["worker exits"] = dict(pool.exits)
    fig.extra["signalled before their first task"] = len(pool.early)
    _finish(fig, pool, jf, jugdir, log)
    fig.check()
    assert leaked == [] and "Traceback" not in "".join(pool.stderr)
