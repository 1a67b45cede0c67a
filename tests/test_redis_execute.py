"""``jug execute`` and ``jug status`` end to end on a real redis-server.

Side-effect files written by the tasks prove how many times each task really ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from redis_fixture import RedisServer, require_redis
from support import run_jug, start_jug, status, wait_until, write_jugfile

pytestmark = pytest.mark.redis

N = 60

MANY = f"""
import os, time, uuid
from jug import TaskGenerator

MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marks")

@TaskGenerator
def work(i):
    time.sleep(0.02)
    # one file per execution: duplicates would show up as two files for the same i
    with open(os.path.join(MARKS, f"{{i}}.{{os.getpid()}}.{{uuid.uuid4().hex}}"), "w"):
        pass
    return i * i

@TaskGenerator
def total(xs):
    with open(os.path.join(MARKS, f"total.{{os.getpid()}}.{{uuid.uuid4().hex}}"), "w"):
        pass
    return sum(xs)

squares = [work(i) for i in range({N})]
result = total(squares)
"""


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    """Skip (fail in CI) without redis-server / redis-py."""
    require_redis()


def _count(st: dict, name: str, state: str) -> int:
    return st["tasks"][name][state]


def test_four_concurrent_workers_run_each_task_exactly_once(tmp_path: Path, redis_url: str) -> None:
    jf = write_jugfile(tmp_path, MANY)
    marks = tmp_path / "marks"
    marks.mkdir()
    before = status(jf, redis_url)
    assert _count(before, "jugfile.work", "ready") == N
    assert _count(before, "jugfile.total", "waiting") == 1

    workers = [start_jug("execute", jf, "--jugdir", redis_url, "--wait-cycle-time", "0.2",
                         "--nr-wait-cycles", "200") for _ in range(4)]
    outs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, f"worker exited {w.returncode}:\n{out}\n{err}"

    runs: dict[str, list[str]] = {}
    for f in marks.iterdir():
        task, pid, _ = f.name.split(".")
        runs.setdefault(task, []).append(pid)
    assert sorted(runs) == sorted([str(i) for i in range(N)] + ["total"])
    dup = {t: p for t, p in runs.items() if len(p) != 1}
    assert not dup, f"tasks run more than once: {dup}"
    pids = {p[0] for p in runs.values()}
    assert len(pids) >= 2, "the four workers did not share the work"

    after = status(jf, redis_url)
    assert _count(after, "jugfile.work", "finished") == N
    assert _count(after, "jugfile.total", "finished") == 1
    from jug.backends import select_store

    store = select_store(redis_url)
    assert store.list_locks() == {}, "workers left locks behind"
    assert len(list(store.list())) == N + 1
    # the stored results are the real values
    values = sorted(store.load(h) for h in store.list())
    assert values[-1] == sum(i * i for i in range(N))


def test_status_table_and_second_execute_on_redis(tmp_path: Path, redis_url: str) -> None:
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(5)"))
    (tmp_path / "marks").mkdir()
    table = run_jug("status", jf, "--jugdir", redis_url, check=True).stdout
    assert "jugfile.work" in table and "Total:" in table
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    short = run_jug("status", "--short", jf, "--jugdir", redis_url, check=True).stdout
    assert "6" in short
    n_marks = len(list((tmp_path / "marks").iterdir()))
    assert n_marks == 6
    run_jug("execute", jf, "--jugdir", redis_url, check=True)  # nothing left to do
    assert len(list((tmp_path / "marks").iterdir())) == n_marks


def test_failed_task_is_marked_on_redis(tmp_path: Path, redis_url: str) -> None:
    jf = write_jugfile(tmp_path, """
    from jug import TaskGenerator
    @TaskGenerator
    def ok(i):
        return i
    @TaskGenerator
    def bad(i):
        raise ValueError(f"bad input {i}")
    a = ok(1)
    b = bad(2)
    c = ok(3)
    """)
    p = run_jug("execute", "--keep-going", jf, "--jugdir", redis_url)
    assert p.returncode != 0 and "bad input 2" in p.stderr
    st = status(jf, redis_url)
    assert _count(st, "jugfile.bad", "failed") == 1
    assert _count(st, "jugfile.ok", "finished") == 2
    from jug.backends import select_store

    failed = select_store(redis_url).list_failed()
    assert len(failed) == 1
    info = next(iter(failed.values()))
    assert "ValueError" in info["error"] and info["owner"]["host"]


def test_unreachable_redis_is_a_clear_cli_error(tmp_path: Path) -> None:
    from redis_fixture import free_port

    jf = write_jugfile(tmp_path, "from jug import Task\n")
    port = free_port()
    for cmd in ("execute", "status"):
        p = run_jug(cmd, jf, "--jugdir", f"redis://127.0.0.1:{port}/0")
        assert p.returncode != 0
        assert f"cannot reach Redis at 127.0.0.1:{port}" in p.stderr
        assert "Traceback" not in p.stderr


def test_worker_losing_redis_mid_task_does_not_mark_it_finished(
        tmp_path: Path, redis_server_factory) -> None:
    # append-only file with fsync on every write: the restarted server has exactly the state
    # that was acknowledged before the crash
    server: RedisServer = redis_server_factory(
        extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    url = server.url
    jf = write_jugfile(tmp_path, """
    import os, time
    from jug import TaskGenerator
    HERE = os.path.dirname(os.path.abspath(__file__))
    @TaskGenerator
    def quick(i):
        return i
    @TaskGenerator
    def slow(i):
        open(os.path.join(HERE, "started"), "w").close()
        while not os.path.exists(os.path.join(HERE, "go")):
            time.sleep(0.05)
        return i * 10
    a = quick(1)
    b = slow(2)
    """)
    worker = start_jug("execute", jf, "--jugdir", url)
    def started() -> bool:
        assert worker.poll() is None, worker.communicate()
        return (tmp_path / "started").exists()

    wait_until(started, 60, "the slow task to start")
    server.stop()  # the connection is gone while the task runs
    (tmp_path / "go").touch()
    out, err = worker.communicate(timeout=120)
    assert worker.returncode != 0, f"worker claimed success without its store:\n{out}\n{err}"
    assert f"127.0.0.1:{server.port}" in err and "Traceback" not in err
    assert "jugfile.slow" in err  # the message says which task's result was lost

    server.start(port=server.port)  # same data directory: AOF restores the state
    st = status(jf, url)
    assert _count(st, "jugfile.quick", "finished") == 1, "state before the crash was lost"
    assert _count(st, "jugfile.slow", "finished") == 0
    from jug.backends import select_store

    store = select_store(url)
    assert len(list(store.list())) == 1
    locks = store.list_locks()
    assert len(locks) == 1  # the dead worker's lock stays, with its owner, for cleanup
    assert next(iter(locks.values()))["pid"] == worker.pid

    # the dead worker's lock is provably stale (its pid is gone on this host): cleanup removes
    # it and a new worker finishes the task
    p = run_jug("cleanup", "--stale", jf, "--jugdir", url, check=True)
    assert "Removed 1 lock" in p.stdout and "provably dead" in p.stdout, p.stdout
    assert store.list_locks() == {}
    run_jug("execute", jf, "--jugdir", url, check=True)
    assert _count(status(jf, url), "jugfile.slow", "finished") == 1


# -- every subcommand that opens the store ---------------------------------------------
STORE_COMMANDS = ["execute", "status", "check", "sleep-until", "invalidate", "cleanup", "graph",
                  "shell", "webstatus"]
EXTRA_ARGS = {"invalidate": ["--target", "jugfile.work"], "sleep-until": ["--timeout", "30"],
              "shell": ["-c", "pass"], "webstatus": ["--port", "0"]}


@pytest.mark.parametrize("cmd", STORE_COMMANDS)
def test_every_store_subcommand_names_unreachable_redis(tmp_path: Path, cmd: str) -> None:
    from redis_fixture import free_port

    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(2)"))
    port = free_port()
    p = run_jug(cmd, *EXTRA_ARGS.get(cmd, []), jf, "--jugdir", f"redis://127.0.0.1:{port}/0",
                timeout=60)
    assert p.returncode != 0
    assert f"cannot reach Redis at 127.0.0.1:{port}" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("cmd", ["check", "sleep-until"])
def test_check_and_sleep_until_see_finished_redis_store(tmp_path: Path, redis_url: str,
                                                        cmd: str) -> None:
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(3)"))
    (tmp_path / "marks").mkdir()
    if cmd == "check":  # nothing run yet: check must say "not finished"
        assert run_jug(cmd, jf, "--jugdir", redis_url, timeout=60).returncode != 0
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    p = run_jug(cmd, jf, "--jugdir", redis_url, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr


def test_invalidate_on_redis(tmp_path: Path, redis_url: str) -> None:
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(4)"))
    (tmp_path / "marks").mkdir()
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    run_jug("invalidate", "--target", "jugfile.work", jf, "--jugdir", redis_url, check=True)
    st = status(jf, redis_url)
    assert _count(st, "jugfile.work", "finished") == 0
    assert _count(st, "jugfile.total", "finished") == 0  # depends on what was invalidated
    from jug.backends import select_store

    assert list(select_store(redis_url).list()) == []
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    assert len(list((tmp_path / "marks").iterdir())) == 2 * 5  # everything ran again, once


def test_cleanup_on_redis_removes_unreferenced_results_and_locks(tmp_path: Path,
                                                                redis_url: str) -> None:
    from jug.backends import select_store

    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(3)"))
    (tmp_path / "marks").mkdir()
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    store = select_store(redis_url)
    assert len(list(store.list())) == 4
    assert store.lock("0" * 40, {"host": "gone-host", "pid": 1, "heartbeat": 0.0})
    write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(2)"))  # work(2), old total unused
    p = run_jug("cleanup", jf, "--jugdir", redis_url, check=True)
    assert "Removed 2 unreferenced result(s)" in p.stdout, p.stdout
    assert len(list(store.list())) == 2
    assert store.list_locks() == {}  # no heartbeat for ages: not known to be alive
    st = status(jf, redis_url)
    assert _count(st, "jugfile.work", "finished") == 2
    assert _count(st, "jugfile.total", "ready") == 1


def test_graph_on_redis(tmp_path: Path, redis_url: str) -> None:
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(2)"))
    out = tmp_path / "g.dot"
    run_jug("graph", "-o", out, jf, "--jugdir", redis_url, check=True)
    text = out.read_text()
    assert "jugfile.work" in text and "jugfile.total" in text


def test_execute_and_status_on_password_protected_redis(tmp_path: Path,
                                                        redis_password_url: str) -> None:
    from redis_fixture import PASSWORD

    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(3)"))
    (tmp_path / "marks").mkdir()
    run_jug("execute", jf, "--jugdir", redis_password_url, check=True)
    st = status(jf, redis_password_url)
    assert _count(st, "jugfile.work", "finished") == 3
    assert PASSWORD not in json.dumps(st)  # the jugdir shown is the URL without password
    bare = redis_password_url.replace(f":{PASSWORD}@", "")
    p = run_jug("status", jf, "--jugdir", bare)
    assert p.returncode != 0 and "password" in p.stderr.lower()
    st = json.loads(run_jug("status", "--json", jf, "--jugdir", bare, check=True,
                            env={"JUG_REDIS_PASSWORD": PASSWORD}).stdout)
    assert _count(st, "jugfile.total", "finished") == 1


def test_workers_survive_dropped_connections_without_running_tasks_twice(
        tmp_path: Path, redis_server: RedisServer, redis_url: str) -> None:
    import threading

    jf = write_jugfile(tmp_path, MANY.replace("time.sleep(0.02)", "time.sleep(0.005)"))
    marks = tmp_path / "marks"
    marks.mkdir()
    stop = threading.Event()
    kills = []

    def killer() -> None:  # drop every worker connection every 30 ms
        admin = redis_server.client()
        while not stop.is_set():
            kills.append(admin.client_kill_filter(_type="normal", skipme=True))
            time.sleep(0.03)
        admin.close()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        workers = [start_jug("execute", jf, "--jugdir", redis_url, "--wait-cycle-time", "0.2",
                             "--nr-wait-cycles", "200") for _ in range(4)]
        outs = [w.communicate(timeout=300) for w in workers]
    finally:
        stop.set()
        thread.join(10)
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, f"worker exited {w.returncode}:\n{out}\n{err}"
    assert sum(kills) > 10, "the connections were not actually dropped"
    runs: dict[str, int] = {}
    for f in marks.iterdir():
        runs[f.name.split(".")[0]] = runs.get(f.name.split(".")[0], 0) + 1
    assert len(runs) == N + 1
    assert all(n == 1 for n in runs.values()), {t: n for t, n in runs.items() if n != 1}
    st = status(jf, redis_url)
    assert _count(st, "jugfile.work", "finished") == N
    assert _count(st, "jugfile.total", "finished") == 1


def test_shell_command_reads_values_from_redis(tmp_path: Path, redis_url: str) -> None:
    pytest.importorskip("IPython")
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(4)"))
    (tmp_path / "marks").mkdir()
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    p = run_jug("shell", "-c", "print('SUM', value(result), sum(value(squares)))", jf,
                "--jugdir", redis_url, check=True, timeout=120)
    assert "SUM 14 14" in p.stdout, p.stdout + p.stderr


def test_webstatus_serves_redis_status(tmp_path: Path, redis_url: str) -> None:
    import urllib.request

    pytest.importorskip("flask")
    jf = write_jugfile(tmp_path, MANY.replace(f"range({N})", "range(3)"))
    (tmp_path / "marks").mkdir()
    run_jug("execute", jf, "--jugdir", redis_url, check=True)
    server = start_jug("webstatus", "--port", "0", jf, "--jugdir", redis_url)
    try:
        line = server.stdout.readline()
        assert "serving http://" in line, line + (server.stderr.read() if server.poll() else "")
        url = line.split("serving ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "status.json", timeout=30) as r:
            doc = json.loads(r.read())
        assert doc["tasks"]["jugfile.work"]["finished"] == 3
        assert doc["tasks"]["jugfile.total"]["finished"] == 1
        with urllib.request.urlopen(url, timeout=30) as r:
            assert redis_url in r.read().decode()  # the page names the Redis store
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_execute_costs_one_round_trip_per_task(tmp_path: Path, redis_server_factory) -> None:
    """Claim, save and unlock of each task travel in one request (a script that publishes the
    previous result, releases its lock and claims the next task)."""
    server: RedisServer = redis_server_factory()
    n = 40
    jf = write_jugfile(tmp_path, f"""
    from jug import TaskGenerator
    @TaskGenerator
    def square(i):
        return i * i
    xs = [square(i) for i in range({n})]
    """)
    client = server.client()

    def scripts() -> int:  # requests that run a script (the commands inside count apart)
        stats = client.info("commandstats")
        return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("eval", "evalsha"))

    before = scripts()
    run_jug("execute", jf, "--jugdir", server.url, check=True)
    requests = scripts() - before
    # was 3 per task (claim, save, unlock); a constant few more: the worker record at start and
    # exit, the first run-times write, the last result sent when the worker stops, and the
    # compare-and-set that folds its run times into the compacted document as it leaves
    assert n <= requests <= n + 12, requests
    st = status(jf, server.url)
    assert st["total"]["finished"] == n and st["locks"]["count"] == 0
