"""Run times are recorded; status shows an ETA; a worker does not start what it cannot finish."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_jug, write_jugfile

from jug.state.timings import Durations, eta_seconds

SLOW = """
import time
from jug import TaskGenerator

@TaskGenerator
def slow(i):
    time.sleep(1.2)
    return i

@TaskGenerator
def quick(i):
    return i

xs = [slow(i) for i in range(3)]
ys = [quick(i) for i in range(3)]
"""


def test_worker_does_not_start_a_task_longer_than_its_time_left(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW)
    run_jug("execute", jf, env={"JUG_MAX_TASKS": "1"}, check=True)  # records one slow run
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    d = st["durations"]["jugfile.slow"]
    assert d["runs"] == 1 and 1.1 < d["typical"] < 5
    assert st["eta_seconds"] is None  # quick never ran: unknown
    # 1 s left, slow typically takes 1.2 s: the worker stops before it, not during it
    p = run_jug("execute", jf, env={"JUG_MAX_SECONDS": "1"})
    assert p.returncode == 0
    assert "not enough time left for jugfile.slow" in p.stderr
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    assert st["tasks"]["jugfile.slow"]["finished"] == 1


LONG_FIRST = """
from jug import TaskGenerator

@TaskGenerator
def long():
    import time
    time.sleep(1000)

@TaskGenerator
def short(i):
    return i

first = long()
rest = [short(i) for i in range(5)]
after = short(first)  # needs the long one: cannot run here either
"""


def test_one_long_task_does_not_send_the_worker_home(tmp_path: Path) -> None:
    """100 s budget, a task typically taking 1000 s first, five 0.01 s tasks ready: the
    worker skips the long one, runs the five, and leaves for its budget (not 'no work')."""
    from jug.backends import select_store
    from jug.state.shifts import read_records
    from jug.state.timings import TimingRecorder

    jf = write_jugfile(tmp_path, LONG_FIRST)
    rec = TimingRecorder(select_store(str(tmp_path / "jugfile.jugdata")))
    rec.add("jugfile.long", 1000.0)
    rec.add("jugfile.short", 0.01)
    rec.flush()
    p = run_jug("execute", jf, env={"JUG_MAX_SECONDS": "100"}, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "stopping: not enough time left for jugfile.long (typically 1000.0s" in p.stderr
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    assert st["tasks"]["jugfile.short"]["finished"] == 5
    assert st["tasks"]["jugfile.long"]["finished"] == 0 and st["locks"]["count"] == 0
    [record] = read_records(select_store(str(tmp_path / "jugfile.jugdata")))
    assert record.reason == "budget", record  # a chain hands over: budget spent


WITH_OTHER_POOL = LONG_FIRST + """
@TaskGenerator
def train():
    return 1

post = short(train())
"""


def test_skipped_for_time_is_the_reason_even_when_the_rest_waits_elsewhere(
        tmp_path: Path) -> None:
    """A pool's worker (--exclude train) skipped the long task for time; what else is left
    waits on another pool: it leaves for its budget (a chain hands over), not 'no work'."""
    from jug.backends import select_store
    from jug.state.shifts import read_records
    from jug.state.timings import TimingRecorder

    jf = write_jugfile(tmp_path, WITH_OTHER_POOL)
    rec = TimingRecorder(select_store(str(tmp_path / "jugfile.jugdata")))
    rec.add("jugfile.long", 1000.0)
    rec.flush()
    p = run_jug("execute", "--exclude", "train", jf, env={"JUG_MAX_SECONDS": "100"},
                timeout=60)
    assert p.returncode == 0, p.stderr
    assert "stopping: not enough time left for jugfile.long" in p.stderr
    [record] = read_records(select_store(str(tmp_path / "jugfile.jugdata")))
    assert record.reason == "budget", record
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    assert st["tasks"]["jugfile.short"]["finished"] == 5


def test_status_table_shows_eta(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, SLOW.replace("range(3)]\nys", "range(3)]\nys").replace(
        "ys = [quick(i) for i in range(3)]", ""))
    run_jug("execute", jf, env={"JUG_MAX_TASKS": "1"}, check=True)
    table = run_jug("status", jf, check=True).stdout
    assert "ETA: about" in table
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    assert 2.0 < st["eta_seconds"] < 10  # two slow tasks left, ~1.2 s each, one worker


def test_durations_merge_and_percentiles() -> None:
    docs = {"w1": {"tasks": {"a": {"count": 2, "total": 4.0, "recent": [1.0, 3.0]}}},
            "w2": {"tasks": {"a": {"count": 1, "total": 10.0, "recent": [10.0]},
                             "b": {"count": 1, "total": 1.0, "recent": [1.0]}}}}
    d = Durations(docs)
    assert d.mean("a") == 14.0 / 3 and d.typical("a") == 10.0
    assert d.mean("zzz") is None and d.typical("zzz") is None
    assert eta_seconds({"a": 3, "b": 2}, d, 2) == (3 * 14.0 / 3 + 2 * 1.0) / 2
    assert eta_seconds({"a": 1, "c": 1}, d, 1) is None
    assert eta_seconds({"a": 0}, d, 1) == 0.0
