"""Redis restarts under running workers, with AOF (nothing lost) and without persistence
(everything lost): never a task marked done without its result, never a failure mark for a
store fault, every value right in the end (issue 11, item 4 and "The suite")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults_support import Figures, Pool, check_values, counted_jugfile, executions, tally
from test_faults_results import FINALS
from test_faults_storms import PATIENT

from jug.backends import select_store

pytestmark = [pytest.mark.faults, pytest.mark.redis]


def _restart_storm(server, pool: Pool, log: Path, restarts: int) -> None:
    """Restart the server ``restarts`` times while the pool works (after it has started)."""
    pool.reap(replace=True)
    for _ in range(restarts):
        deadline = time.monotonic() + 60
        seen = len(executions(log))
        while len(executions(log)) < seen + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
            pool.reap(replace=True)
        pool.hit.update(w.pid for w in pool.live)
        port = server.port
        server.stop()
        time.sleep(0.3)
        server.start(port)
        pool.reap(replace=True)


@pytest.mark.parametrize("aof", [True, False], ids=["aof", "no-persistence"])
def test_redis_restarts_under_workers(aof: bool, redis_server_factory, tmp_path: Path) -> None:
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if aof else []
    server = redis_server_factory(extra_args=extra)
    n, restarts = 300, 3
    jf, log = counted_jugfile(tmp_path, n, sleep=0.01)
    jf.write_text(jf.read_text() + FINALS)  # dependents: their inputs may vanish
    pool = Pool(jf, server.url, 3, PATIENT)
    _restart_storm(server, pool, log, restarts)
    pool.drain()
    store = select_store(server.url)
    done = set(store.list())
    assert all(store.exists(k) for k in done), "a task is marked done without its result"
    assert store.list_failed() == {}, "a store fault became a task failure"
    last = Pool(jf, server.url, 1, PATIENT)
    last.reap(replace=True)
    last.drain()
    assert last.exits == {0: 1}, last.stderr
    fig = tally(Figures(f"Redis restarts, {'AOF' if aof else 'no persistence'}", 2 * n,
                        faults=restarts), log, pool.hit)
    check_values(fig, store, jf)
    fig.extra["worker exits"] = dict(pool.exits)
    fig.extra["vanished inputs recomputed"] = "".join(pool.stderr).count("is gone from")
    fig.check()
    assert set(pool.exits) <= {0, 2}, pool.stderr
    assert "Traceback" not in "".join(pool.stderr + last.stderr)
    if aof:
        assert fig.reruns <= len(pool.hit)  # at most the task each worker had in hand
