"""Issue 11 fixes, one test (or two) per item: locks, store faults, corruption, crash loops,
signals and option checking.  The heavier fault injection lives in tests/faults/."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from support import (
    MARKS_PRELUDE,
    marks,
    ok,
    run_jug,
    start_jug,
    status,
    stop,
    wait_until,
    write_jugfile,
)

from jug.backends import select_store
from jug.backends.file_store import FileStore

FAST = ("--nr-wait-cycles", "1", "--wait-cycle-time", "0.1")

ONE = """
from jug import TaskGenerator

@TaskGenerator
def one():
    return 1

x = one()
"""

# Two final results nothing depends on: a small one and one larger than a page.
FINALS = MARKS_PRELUDE + """
@TaskGenerator
def small():
    mark("small")
    return [1, 2, 3]

@TaskGenerator
def large():
    mark("large")
    return os.urandom(20000)  # incompressible: stays larger than a page

a = small()
b = large()
"""


def _only_hash(jd: Path) -> str:
    [h] = list(select_store(str(jd)).list())
    return h


def _result_file(jd: Path, h: str) -> Path:
    return jd / "results" / h[:2] / h[2:]


def _flip(path: Path, offset: int = -3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


# -- item 3: owner-less locks -----------------------------------------------------------
def _plant_empty_lock(jd: Path, h: str, age: float) -> Path:
    lock = jd / "locks" / h
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(b"")
    then = time.time() - age
    os.utime(lock, (then, then))
    return lock


def test_empty_lock_counts_as_crashed_and_is_reclaimed(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, ONE), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    h = _only_hash(jd)
    select_store(str(jd)).remove(h)
    lock = _plant_empty_lock(jd, h, age=60)
    s = status(jf, jd)
    assert s["total"]["crashed"] == 1 and "no owner record" in s["locks"]["owners"][0]["dead"]
    assert run_jug("check", jf, "--jugdir", jd).returncode == 1
    p = ok("execute", jf, "--jugdir", jd, *FAST)
    assert "reclaimed the lock of task jugfile.one" in p.stderr and not lock.exists()
    assert select_store(str(jd)).read_docs("crashes") == {}  # it finished: count reset
    assert run_jug("check", jf, "--jugdir", jd).returncode == 0


def test_cleanup_stale_removes_old_empty_lock_keeps_a_fresh_one(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, ONE), tmp_path / "d.jugdata"
    old = _plant_empty_lock(jd, "a" * 40, age=60)
    fresh = _plant_empty_lock(jd, "b" * 40, age=0)
    p = ok("cleanup", jf, "--jugdir", jd, "--stale")
    assert not old.exists() and fresh.exists() and "no owner record" in p.stdout


# -- item 10: the heartbeat never re-creates or refreshes a lock it does not hold --------
def test_heartbeat_leaves_other_owners_and_released_locks_alone(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "d"))
    key = "ab" * 20
    store.lock(key, {"host": "elsewhere", "pid": 1, "heartbeat": 5.0, "locked_at": 5.0})
    store.heartbeat(key)
    assert store.lock_owner(key)["heartbeat"] == 5.0
    store.force_unlock(key)
    store.heartbeat(key)
    assert not store.is_locked(key)


def test_heartbeat_racing_unlock_never_leaves_a_lock(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "d"))
    key = "cd" * 20
    done = threading.Event()

    def beat() -> None:
        while not done.is_set():
            store.heartbeat(key)

    thread = threading.Thread(target=beat)
    thread.start()
    left = 0
    try:
        for _ in range(1500):
            assert store.lock(key)
            store.unlock(key)
            time.sleep(0)
            left += store.is_locked(key)
    finally:
        done.set()
        thread.join()
    assert left == 0 and not store.is_locked(key)


# -- item 5: a corrupt result nothing depends on ------------------------------------------
def test_flipped_byte_in_small_result_is_reported_and_recomputed(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, FINALS), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    small = next(h for h in select_store(str(jd)).list()
                 if _result_file(jd, h).stat().st_size < 4096)
    _flip(_result_file(jd, small))
    s = status(jf, jd)
    assert [c["task"] for c in s["corrupt"]] == ["jugfile.small"]
    assert s["tasks"]["jugfile.small"]["finished"] == 0
    p = run_jug("check", jf, "--jugdir", jd)
    assert p.returncode == 1 and "corrupt result of task jugfile.small" in p.stderr
    p = ok("execute", jf, "--jugdir", jd)
    assert "jugfile.small is corrupt (checksum mismatch)" in p.stderr
    assert marks(tmp_path) == {"small": 2, "large": 1}
    assert run_jug("check", jf, "--jugdir", jd).returncode == 0


def test_check_verify_finds_a_flipped_byte_in_a_large_result(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, FINALS), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    large = next(h for h in select_store(str(jd)).list()
                 if _result_file(jd, h).stat().st_size > 4096)
    _flip(_result_file(jd, large), offset=5000)
    assert run_jug("check", jf, "--jugdir", jd).returncode == 0  # cheap check: not read
    p = run_jug("check", "--verify", jf, "--jugdir", jd)
    assert p.returncode == 1 and "corrupt result of task jugfile.large" in p.stderr
    ok("execute", jf, "--jugdir", jd)
    assert marks(tmp_path) == {"small": 1, "large": 2}
    assert run_jug("check", "--verify", jf, "--jugdir", jd).returncode == 0


# -- item 8: SystemExit and os._exit inside tasks -----------------------------------------
EXITS = """
import os, sys
from jug import TaskGenerator

@TaskGenerator
def quits():
    sys.exit(3)

@TaskGenerator
def dies():
    os._exit(1)

@TaskGenerator
def fine(i):
    return i

q = QUIT
xs = [fine(i) for i in range(3)]
"""


def test_sys_exit_in_a_task_fails_that_task_only(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, EXITS.replace("QUIT", "quits()")), tmp_path / "d.jugdata"
    p = run_jug("execute", "--keep-going", jf, "--jugdir", jd)
    assert p.returncode == 1 and "jugfile.quits" in p.stderr
    s = status(jf, jd)
    assert s["tasks"]["jugfile.fine"]["finished"] == 3
    assert s["failures"][0]["error"] == "SystemExit(3)"


def test_os_exit_crash_loop_is_marked_failed_after_a_few_reclaims(tmp_path: Path) -> None:
    from jug.state.crashloop import LIMIT

    jf, jd = write_jugfile(tmp_path, EXITS.replace("QUIT", "dies()")), tmp_path / "d.jugdata"
    codes = [run_jug("execute", jf, "--jugdir", jd, *FAST).returncode for _ in range(LIMIT + 2)]
    assert codes == [1] * (LIMIT + 1) + [1], codes  # died LIMIT + 1 times, then stays failed
    s = status(jf, jd)
    assert s["tasks"]["jugfile.dies"]["failed"] == 1 and s["tasks"]["jugfile.fine"]["finished"] == 3
    assert "crash loop" in s["failures"][0]["error"]
    table = ok("status", jf, "--jugdir", jd).stdout
    assert any(ln.strip().startswith("jugfile.dies ")
               and "crash loop: the worker running it died 3 times" in ln
               for ln in table.splitlines()), table
    store = select_store(str(jd))
    ok("invalidate", "--target", "dies", jf, "--jugdir", jd)
    assert store.read_docs("crashes") == {} and store.list_failed() == {}
    from jug.state.crashloop import note_reclaim

    for _ in range(LIMIT):
        note_reclaim(store, "d" * 40, "jugfile.dies", None, "test")
    ok("cleanup", "--failed-only", jf, "--jugdir", jd)
    assert store.read_docs("crashes") == {} and store.list_failed() == {}


# -- item 11: a task that swallows SIGTERM ------------------------------------------------
SWALLOW = """
import os, time
from jug import TaskGenerator

HERE = os.path.dirname(os.path.abspath(__file__))

@TaskGenerator
def stubborn():
    open(os.path.join(HERE, "started"), "w").close()
    t0 = time.time()
    while time.time() - t0 < 3:
        try:
            time.sleep(0.05)
        except BaseException:
            pass
    return 1

@TaskGenerator
def after(i):
    return i

s = stubborn()
xs = [after(i) for i in range(5)]
"""


def test_worker_takes_no_new_task_after_a_swallowed_sigterm(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, SWALLOW), tmp_path / "d.jugdata"
    w = start_jug("execute", jf, "--jugdir", jd)
    wait_until(lambda: (tmp_path / "started").exists(), what="the task to start")
    w.send_signal(15)
    w.wait(30)
    _out, err = stop(w)
    assert w.returncode == 143, err
    assert "took no new task" in err and "caught by task jugfile.stubborn" in err
    s = status(jf, jd)
    assert s["tasks"]["jugfile.stubborn"]["finished"] == 1
    assert s["tasks"]["jugfile.after"]["finished"] == 0


# -- item 11: config files and option values ----------------------------------------------
@pytest.mark.parametrize("text,line", [("jugdir: [oops\n", "line 2"),
                                       ("[main]\njugdir = a\nno equals sign\n", "line 3")])
def test_jugrc_syntax_error_names_file_and_line(tmp_path: Path, text: str, line: str) -> None:
    jf = write_jugfile(tmp_path, ONE)
    (tmp_path / "jugrc").write_text(text)
    p = run_jug("status", jf)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{tmp_path / 'jugrc'}, {line}: syntax error in config file" in p.stderr


def test_unknown_jugrc_key_warns_with_a_suggestion(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, ONE)
    (tmp_path / "jugrc").write_text("jugdirr: elsewhere\nkeep-going: true\n"
                                    "execute:\n  heartbaet: 5\n")
    p = ok("execute", jf)
    assert "unknown option 'jugdirr', ignored; did you mean 'jugdir'?" in p.stderr
    assert "unknown option 'heartbaet' in section 'execute', ignored; did you mean 'heartbeat'?" \
        in p.stderr
    assert "keep-going" not in p.stderr  # known to execute: no warning
    p = ok("status", jf)
    assert "keep-going" not in p.stderr and "heartbaet" not in p.stderr  # execute's, not ours


@pytest.mark.parametrize("args,text", [
    (("webstatus", "--port", "99999"), "argument --port: expected a TCP port number (0-65535)"),
    (("execute", "--wait-cycle-time", "-5"), "argument --wait-cycle-time: expected a number of "
     "seconds >= 0, got '-5'"),
    (("execute", "--heartbeat", "nan"), "argument --heartbeat: expected a number of seconds >= 0"
     ", got 'nan'"),
    (("execute", "--nr-wait-cycles", "-1"), "expected a whole number >= 0"),
])
def test_bad_option_values_are_rejected(tmp_path: Path, args: tuple, text: str) -> None:
    jf = write_jugfile(tmp_path, ONE)
    p = run_jug(*args, jf)
    assert p.returncode == 2 and text in p.stderr and "Traceback" not in p.stderr


def test_bad_option_value_from_jugrc_is_rejected(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, ONE)
    (tmp_path / "jugrc").write_text("execute:\n  heartbeat: .nan\n")
    p = run_jug("execute", jf)
    assert p.returncode == 2 and "expected a number of seconds >= 0" in p.stderr


def test_crash_loop_counts_each_reclaim_and_marks_failed_at_the_limit(tmp_path: Path) -> None:
    from jug.state.crashloop import LIMIT, forget, note_reclaim

    store = FileStore(str(tmp_path / "d"))
    owner = {"host": "n1", "pid": 7}
    seen = [note_reclaim(store, "k" * 40, "jugfile.t", owner, "process 7 no longer exists")
            for _ in range(LIMIT)]
    assert [r.count for r in seen] == list(range(1, LIMIT + 1))
    assert [r.failed for r in seen] == [False] * (LIMIT - 1) + [True]
    mark = store.list_failed()["k" * 40]
    assert mark["task"] == "jugfile.t" and "n1:7, process 7 no longer exists" in mark["error"]
    assert forget(store) == 1 and store.read_docs("crashes") == {}
