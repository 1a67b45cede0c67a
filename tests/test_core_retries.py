"""A failed task does not stop the work (issue 21, items 1 and 9): ``--keep-going`` runs every
task that does not need it, ``--retries`` retries transient errors with a back-off (attempts
counted in the store, across workers), and the failures say how to retry and where they
happened (``jug status --traceback NAME|HASH|all``, from the user's code, with the call)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import (
    MARKS_PRELUDE,
    error_lines,
    make_jugdir,
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
from jug.config.options import OptionValueError
from jug.engine.retries import MAX_DELAY, RetryPolicy, exception_names, retry_spec
from jug.engine.worker import handover_reason
from jug.jugfile import trim_traceback_text
from jug.state.attempts import DelayFor
from jug.state.shifts import ExitReason, read_records


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def jugdir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The file store, and Redis."""
    return make_jugdir(request.param, request, tmp_path)


SWEEP = MARKS_PRELUDE + """
@TaskGenerator
def simulate(seed):
    mark(f"sim{seed}")
    if seed in (3, 7):
        raise ValueError(f"bad seed {seed}")
    return seed

@TaskGenerator
def report(xs):
    mark("report")
    return sum(xs)

sims = [simulate(s) for s in range(10)]
final = report(sims)
"""

#: a task that fails (OSError) until it ran ``FAILS`` times; each try leaves a file with its time
FLAKY = """
import os, time
from jug import TaskGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
FAILS = int(os.environ.get("FAILS", "2"))
ERROR = {"os": OSError, "value": ValueError, "conn": ConnectionError}[os.environ.get("ERR", "os")]

def tries(name):
    return sorted(f for f in os.listdir(HERE) if f.startswith(f"try-{name}-"))

def attempt(name):
    n = len(tries(name))
    with open(os.path.join(HERE, f"try-{name}-{n}-{time.time():.3f}-{os.getpid()}"), "w"):
        pass
    if n < FAILS:
        raise ERROR(f"server busy ({name}, try {n})")
    return name

@TaskGenerator
def fetch(name):
    return attempt(name)

@TaskGenerator
def grab(name):
    return attempt(name)

@TaskGenerator
def other(i):
    time.sleep(float(os.environ.get("OTHER_SECS", "0")))
    with open(os.path.join(HERE, f"other-{i}-{time.time():.3f}"), "w"):
        pass
    return i

got = [fetch("a")] + [other(i) for i in range(int(os.environ.get("OTHERS", "2")))]
if os.environ.get("GRAB"):
    got.append(grab("b"))
"""


def tries(folder: Path, name: str = "a") -> list[tuple[int, float, str]]:
    """(try number, time, pid) of each attempt of ``fetch(name)``."""
    out = []
    for f in folder.glob(f"try-{name}-*"):
        _, _, n, t, pid = f.name.split("-")
        out.append((int(n), float(t), pid))
    return sorted(out)


def test_keep_going_runs_every_task_not_needing_the_failed_ones(tmp_path: Path,
                                                              jugdir: str) -> None:
    jf = write_jugfile(tmp_path, SWEEP)
    p = run_jug("execute", jf, "--jugdir", jugdir, "--keep-going")
    assert p.returncode == 1, p.stderr
    ran = marks(tmp_path)
    assert ran == {f"sim{s}": 1 for s in range(10)}  # the 8 others ran, report never
    st = status(jf, jugdir)
    assert st["tasks"]["jugfile.simulate"]["finished"] == 8
    assert st["total"]["failed"] == 2 and st["tasks"]["jugfile.report"]["waiting"] == 1
    (record,) = read_records(select_store(jugdir))
    assert (record.reason, record.tasks, record.failed) == ("task failed", 8, 2)
    last = error_lines(p.stderr)[-1]
    assert "2 task(s) failed" in last and "jug cleanup --failed-only" in last, last
    text = ok("status", jf, "--jugdir", jugdir).stdout
    assert "to retry them: jug cleanup --failed-only" in text and "(transient errors: --retries N)" in text
    # the retry workflow the hint gives: fix, clear the marks, run again
    jf.write_text(jf.read_text().replace("if seed in (3, 7):", "if False:"))
    ok("cleanup", jf, "--jugdir", jugdir, "--failed-only")
    ok("execute", jf, "--jugdir", jugdir)
    assert status(jf, jugdir)["total"]["finished"] == 11 and marks(tmp_path)["report"] == 1


def test_a_worker_that_passed_every_task_hands_over_like_one_with_no_work() -> None:
    """In a --until-done chain (with pools) it must not leave the chain to its planner job."""
    assert handover_reason(ExitReason.TASK_FAILED, passed_all=True) is ExitReason.NO_WORK
    assert handover_reason(ExitReason.BLOCKED, passed_all=True) is ExitReason.NO_WORK
    # without --keep-going it left with work to do: no hand-over as if it were done
    assert handover_reason(ExitReason.TASK_FAILED, passed_all=False) is ExitReason.TASK_FAILED
    assert handover_reason(ExitReason.BUDGET, passed_all=True) is ExitReason.BUDGET


def test_failing_twice_then_succeeding_with_two_retries_takes_three_attempts(
        tmp_path: Path, jugdir: str) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    p = run_jug("execute", jf, "--jugdir", jugdir, "--retries", "2", "--retry-delay", "0.3")
    assert p.returncode == 0, p.stderr
    attempts = tries(tmp_path)
    assert [n for n, _, _ in attempts] == [0, 1, 2]
    gaps = [b[1] - a[1] for a, b in zip(attempts, attempts[1:])]
    # the back-off doubles (1 ms: the attempt times are stored rounded)
    assert gaps[0] >= 0.3 - 1e-3 and gaps[1] >= 0.6 - 1e-3, gaps
    others = sorted(float(f.name.split("-")[2]) for f in tmp_path.glob("other-*"))
    assert len(others) == 2 and others[-1] < attempts[1][1]  # run during the back-off
    assert "attempt 1 of 3" in p.stderr and "attempt 2 of 3" in p.stderr
    st = status(jf, jugdir)
    assert st["total"] == {**st["total"], "finished": 3, "failed": 0}
    (row,) = st["retries"]
    assert (row["task"], row["state"], row["attempts"]) == ("jugfile.fetch", "finished", 3)
    assert row["first_line"] == "OSError: server busy (a, try 1)"
    text = ok("status", jf, "--jugdir", jugdir).stdout
    assert "jugfile.fetch" in text and "finished at attempt 3" in text
    ok("invalidate", jf, "--jugdir", jugdir, "--target", "fetch")  # a rerun counts anew
    assert status(jf, jugdir)["retries"] == []


def test_a_task_out_of_retries_fails_after_n_attempts(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    env = {"FAILS": "99"}
    p = run_jug("execute", jf, "--retries", "1", "--retry-delay", "0.05", env=env)
    assert p.returncode == 1
    assert "failed after 2 attempts" in p.stderr and len(tries(tmp_path)) == 2
    st = status(jf, env=env)
    (failure,) = st["failures"]
    assert failure["attempts"] == 2 and st["retries"][0]["state"] == "failed"
    text = ok("status", jf, env=env).stdout
    assert "OSError: server busy (a, try 1) (after 2 attempts)" in text
    tb = ok("status", jf, "--traceback", "fetch", env=env).stdout
    assert tb.startswith("task jugfile.fetch (") and "failed after 2 attempts" in tb
    ok("cleanup", jf, "--failed-only", env=env)  # the attempts count anew
    assert status(jf, env=env)["retries"] == []
    p = run_jug("execute", jf, "--retries", "1", "--retry-delay", "0.05", env=env)
    assert p.returncode == 1 and len(tries(tmp_path)) == 4


def test_retry_on_names_the_transient_classes(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    args = ("execute", jf, "--retries", "3", "--retry-delay", "0.05", "--retry-on",
            "TimeoutError,OSError")
    p = run_jug(*args, env={"ERR": "value", "FAILS": "3"})
    assert p.returncode == 1 and len(tries(tmp_path)) == 1  # a ValueError is a real bug
    assert "attempt 1 of" not in p.stderr and "attempts" not in p.stderr
    ok("cleanup", jf, "--failed-only")
    ok(*args, env={"ERR": "conn", "FAILS": "3"})  # ConnectionError is an OSError
    assert len(tries(tmp_path)) == 1 + 3  # two failed attempts, then one that succeeded


def test_retries_per_task_name_from_the_environment_and_a_jugrc(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    env = {"GRAB": "1", "FAILS": "2"}
    p = run_jug("execute", jf, "--keep-going", "--retry-delay", "0.05",
                env={**env, "JUG_RETRIES": "fet=2"})
    assert p.returncode == 1  # grab gets no retries: failed at once; fetch finished
    assert len(tries(tmp_path, "a")) == 3 and len(tries(tmp_path, "b")) == 1
    (tmp_path / "jugrc").write_text("execute:\n  retries: [0, grab=3]\n  retry-delay: 0.05\n")
    ok("cleanup", jf, "--failed-only")
    ok("execute", jf, env=env)  # grab fails once more, then succeeds at its 3rd try
    assert len(tries(tmp_path, "b")) == 3 and len(tries(tmp_path, "a")) == 3


def test_attempts_are_counted_once_across_concurrent_workers(tmp_path: Path,
                                                            jugdir: str) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    env = {"FAILS": "99", "OTHERS": "8", "OTHER_SECS": "0.3"}
    args = ("execute", jf, "--jugdir", jugdir, "--retries", "3", "--retry-delay", "0.2",
            "--keep-going", "--wait-cycle-time", "0.2")
    workers = [start_jug(*args, env=env) for _ in range(3)]
    for w in workers:
        wait_until(lambda w=w: w.poll() is not None, 60, "a worker to leave")
    outs = [stop(w) for w in workers]
    assert [w.returncode for w in workers].count(1) >= 1, outs
    attempts = tries(tmp_path)
    assert [n for n, _, _ in attempts] == [0, 1, 2, 3], attempts  # exactly 1 + 3 retries
    (failure,) = status(jf, jugdir, env=env)["failures"]
    assert failure["attempts"] == 4
    assert sum("failed after 4 attempts" in err for _, err in outs) == 1


@pytest.mark.parametrize("value, words", [
    (("--retries", "x"), "expected N or NAME=N"),
    (("--retries", "=3"), "expected N or NAME=N"),
    (("--retries", "fetch=-1"), "expected N or NAME=N"),
    (("--retry-on", "Bad Error"), "exception class names"),
    (("--retry-delay", "-1"), "seconds >= 0"),
])
def test_bad_retry_options_are_one_line_errors(tmp_path: Path, value: tuple, words: str) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    p = run_jug("execute", jf, *value)
    assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not tries(tmp_path)


def test_bad_retries_in_the_environment_is_one_line(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    p = run_jug("execute", jf, env={"JUG_RETRIES": "many"})
    assert p.returncode == 2 and "JUG_RETRIES" in p.stderr and "Traceback" not in p.stderr


DEEP = """
from jug import TaskGenerator

def helper(x):
    return 1 / (x - x)

@TaskGenerator
def simulate(seed, label="run"):
    if seed > 1:
        return helper(seed)
    return seed

@TaskGenerator
def summary(xs):
    return sum(xs)

sims = [simulate(s, label="x" * 100) for s in range(4)]
total = summary(sims[:2])
"""


def test_traceback_by_name_prefix_hash_or_all_from_the_users_code(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, DEEP)
    assert run_jug("execute", jf, "--keep-going").returncode == 1
    failures = status(jf)["failures"]
    assert len(failures) == 2
    by_name = ok("status", jf, "--traceback", "sim").stdout
    assert by_name == ok("status", jf, "--traceback", "all").stdout
    assert by_name.count("Traceback (most recent call last):") == 2
    first = failures[0]["hash"]
    one = ok("status", jf, "--traceback", first[:6]).stdout
    assert one.count("Traceback") == 1 and first in one
    assert "called as jugfile.simulate(" in one and "label='xxxx" in one and "..." in one
    frames = [ln for ln in one.splitlines() if ln.startswith("  File ")]
    assert frames and all(str(jf) in ln for ln in frames), one  # no frame of jug's own
    assert 'in simulate' in frames[0] and 'in helper' in frames[-1]
    assert one.rstrip().endswith("ZeroDivisionError: division by zero")
    bad = run_jug("status", jf, "--traceback", "summ")  # a name that did not fail
    assert bad.returncode == 1 and len(error_lines(bad.stderr)) == 1
    assert "give a hash prefix, a task name or 'all'" in bad.stderr


def test_traceback_of_a_mark_from_an_older_jug_is_trimmed_and_gets_its_call(
        tmp_path: Path) -> None:
    """Marks written before the call and the user's frames were recorded."""
    jf = write_jugfile(tmp_path, DEEP)
    assert run_jug("execute", jf, "--keep-going").returncode == 1
    store = select_store(str(tmp_path / "jugfile.jugdata"))
    h, info = sorted(store.list_failed().items())[0]
    old = {k: v for k, v in info.items() if k not in ("call", "user_traceback")}
    assert '/jug/engine/worker.py"' in old["traceback"]  # the whole traceback is stored
    store.fail(h, old)
    text = ok("status", jf, "--traceback", h).stdout
    assert "called as jugfile.simulate(" in text and "/jug/" not in text
    assert trim_traceback_text(old["traceback"]) in text


def test_status_json_lists_a_task_waiting_for_its_next_attempt(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FLAKY)
    env = {"FAILS": "99", "OTHERS": "0"}
    w = start_jug("execute", jf, "--retries", "5", "--retry-delay", "30", env=env)
    try:
        wait_until(lambda: tries(tmp_path), 30, "the first attempt")
        row = wait_until(lambda: status(jf, env=env)["retries"], 30, "the attempt record")[0]
    finally:
        out, err = stop(w)
    assert (row["state"], row["attempts"]) == ("retrying", 1) and row["retry_after"]
    assert len(tries(tmp_path)) == 1  # the back-off held the second attempt back
    text = ok("status", jf, env=env).stdout
    assert "1 failed attempt(s)" in text and "next attempt at" in text
    assert json.loads(ok("status", "--json", jf, env=env).stdout)["total"]["failed"] == 0


NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,8}){0,2}", fullmatch=True)
SPECS = st.lists(st.tuples(st.none() | NAMES, st.integers(0, 10**6)), min_size=1, max_size=6)


@given(SPECS)
def test_retries_values_round_trip(specs: list) -> None:
    text = ",".join(str(n) if name is None else f"{name}={n}" for name, n in specs)
    assert retry_spec(text) == specs
    if len(specs) == 1 and specs[0][0] is None:
        assert retry_spec(specs[0][1]) == specs  # a jugrc's bare number


@given(st.text(max_size=30))
def test_any_retries_text_parses_or_is_a_one_line_option_error(text: str) -> None:
    try:
        specs = retry_spec(text)
    except OptionValueError as e:
        assert "\n" not in str(e) and "expected N or NAME=N" in str(e)
    else:
        assert all(n >= 0 and (name is None or name) for name, n in specs)


@given(st.text(max_size=30))
def test_any_retry_on_text_parses_or_is_a_one_line_option_error(text: str) -> None:
    try:
        names = exception_names(text)
    except OptionValueError as e:
        assert "\n" not in str(e)
    else:
        assert names and all(n and " " not in n for n in names)


@given(st.floats(0, 1000), st.integers(1, 60))
def test_the_back_off_doubles_and_stays_bounded(first: float, failed: int) -> None:
    delay = DelayFor(first, MAX_DELAY)
    assert 0 <= delay(failed) <= MAX_DELAY
    assert delay(failed + 1) >= delay(failed)
    assert delay(1) == min(first, MAX_DELAY)


def test_per_name_counts_use_the_one_matcher_and_the_last_entry_wins() -> None:
    names = ["wf.train", "wf.trainer", "wf.fetch", "wf.post"]
    policy = RetryPolicy(((None, 1), ("train", 4), ("fet", 0), ("po", 2), (None, 1)))
    assert policy.counts(names) == dict.fromkeys(names, 1)  # the bare 1 came last
    policy = RetryPolicy(((None, 1), ("train", 4), ("fet", 0)))
    assert policy.counts(names) == {"wf.train": 4, "wf.trainer": 1, "wf.post": 1}
    on = RetryPolicy(((None, 1),), ("OSError", "socket.timeout"))
    assert on.retryable(ConnectionResetError()) and not on.retryable(ValueError())
    assert not RetryPolicy(((None, 1),)).retryable(KeyboardInterrupt())
