"""Worker records (one write at start, one at exit) and the log lines a batch log shows."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from support import run_jug, start_jug, stop, wait_until, write_jugfile

from jug.backends import select_store
from jug.backends.dict_store import DictStore
from jug.state.shifts import ExitReason, ShiftLog, read_records, reason_of_exit_check

WORK = """
import os, time
from jug import TaskGenerator

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate")

@TaskGenerator
def work(i):
    if os.environ.get("WAIT_GATE"):
        while not os.path.exists(GATE):
            time.sleep(0.05)
    if i == int(os.environ.get("FAIL", "-1")):
        raise ValueError("bad")
    return i

@TaskGenerator
def after(xs):
    return sum(xs)

total = after([work(i) for i in range(4)])
"""


def _records(jd: Path) -> list:
    return read_records(select_store(str(jd)))


def _run(tmp_path: Path, *args: str, env: dict | None = None):
    jf = write_jugfile(tmp_path, WORK)
    jd = tmp_path / "d"
    return jf, jd, run_jug("execute", jf, "--jugdir", jd, *args, env=env)


def test_record_and_log_lines_of_a_full_run(tmp_path: Path) -> None:
    jf, jd, p = _run(tmp_path)
    assert p.returncode == 0, p.stderr
    (rec,) = _records(jd)
    assert rec.reason == ExitReason.NO_WORK.value and rec.tasks == 5 and rec.failed == 0
    assert rec.ended is not None and rec.ended >= rec.started and rec.busy_seconds > 0
    assert rec.pool is None and rec.job is None and rec.jugfile == str(jf)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("jug [")]
    assert len(lines) == 2  # start and exit: no line per task without --verbose info
    assert f"worker {rec.host}:{rec.pid} started: {jf}, store {jd}" in lines[0]
    assert lines[0].endswith("budget none")
    assert "leaves: no work left; 5 task(s) done, 0 failed" in lines[1]


def test_verbose_info_logs_each_task(tmp_path: Path) -> None:
    _, _, p = _run(tmp_path, "--verbose", "info")
    assert p.returncode == 0, p.stderr
    done = [ln for ln in p.stderr.splitlines() if "] finished jugfile." in ln]
    assert len(done) == 5 and done[-1].split("] ")[1].startswith("finished jugfile.after in ")


@pytest.mark.parametrize("env,args,reason,code", [
    ({"JUG_MAX_TASKS": "2"}, (), ExitReason.BUDGET, 0),
    ({"FAIL": "1"}, (), ExitReason.TASK_FAILED, 1),
    ({}, ("--target", "nosuchtask"), ExitReason.ERROR, 1),
])
def test_exit_reasons(tmp_path: Path, env: dict, args: tuple, reason: ExitReason,
                      code: int) -> None:
    _, jd, p = _run(tmp_path, *args, env=env)
    assert p.returncode == code, p.stderr
    (rec,) = _records(jd)
    assert rec.reason == reason.value
    assert f"leaves: {reason.value}" in p.stderr
    if reason is ExitReason.BUDGET:
        assert rec.tasks == 2 and "budget 2 tasks" in p.stderr


def test_stop_file_is_its_own_reason(tmp_path: Path) -> None:
    (tmp_path / "STOP").touch()
    _, jd, p = _run(tmp_path, env={"JUG_EXIT_IF_FILE_EXISTS": str(tmp_path / "STOP")})
    (rec,) = _records(jd)
    assert rec.reason == "STOP" and "stop file" in rec.detail and rec.tasks == 0


def test_signal_is_recorded(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, WORK)
    jd = tmp_path / "d"
    w = start_jug("execute", jf, "--jugdir", jd, env={"WAIT_GATE": "1"})
    try:
        store = select_store(str(jd))
        wait_until(lambda: store.list_locks(), what="the worker inside a task")
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=60)
    finally:
        stop(w)
    assert w.returncode == 143
    (rec,) = _records(jd)
    assert rec.reason == ExitReason.SIGNAL.value and rec.detail == "SIGTERM" and rec.tasks == 0
    assert "leaves: signal (SIGTERM)" in err


def test_idle_seconds_while_waiting_for_a_dependency(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, WORK.replace("range(4)", "range(1)"))
    jd = tmp_path / "d"
    env = {"WAIT_GATE": "1"}
    first = start_jug("execute", jf, "--jugdir", jd, env=env)
    store = select_store(str(jd))
    wait_until(lambda: store.list_locks(), what="the first worker's lock")
    second = start_jug("execute", jf, "--jugdir", jd, "--wait-cycle-time", "0.2", env=env)
    try:
        wait_until(lambda: len(_records(jd)) == 2, what="the second worker's start record")
        time.sleep(1.0)
        (tmp_path / "gate").touch()
        for w in (first, second):
            _, err = w.communicate(timeout=60)
            assert w.returncode == 0, err
    finally:
        stop(first)
        stop(second)
    recs = {r.pid: r for r in _records(jd)}
    assert recs[first.pid].tasks + recs[second.pid].tasks == 2
    waiter = recs[second.pid] if recs[second.pid].tasks <= recs[first.pid].tasks else \
        recs[first.pid]
    assert waiter.idle_seconds > 0.3


class CountingStore(DictStore):
    """A dict store that counts document writes per namespace."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        self.writes[namespace] = self.writes.get(namespace, 0) + 1
        json.dumps(doc)  # what a real store would have to serialise
        super().write_doc(namespace, name, doc)


def test_one_write_at_start_one_at_exit_and_a_summary_line(monkeypatch, capsys) -> None:
    import io

    import jug.state.shifts as workers

    store = CountingStore()
    out = io.StringIO()
    s = ShiftLog.start(store, "jugfile.py", "w-1", verbose=False)
    s.out = out
    finished: set[str] = {"a"}
    s.track(["a", "b", "c", "d"], finished)
    monkeypatch.setattr(workers, "SUMMARY_EVERY", 3600.0)
    for h in "bc":
        finished.add(h)
        s.task_done("jugfile.work", 0.5)
    assert out.getvalue() == ""  # no summary before its time
    monkeypatch.setattr(workers, "SUMMARY_EVERY", 0.0)
    s.task_done("jugfile.work", 0.5)
    line = out.getvalue().strip()
    assert "progress: 3 task(s) done here; 3/4 finished overall (75%), ETA about" in line
    assert store.writes == {"workers": 1}
    s.close(ExitReason.NO_WORK)
    assert store.writes == {"workers": 2}
    (rec,) = read_records(store)
    assert rec.tasks == 3 and rec.busy_seconds == 1.5 and rec.reason == "no work left"


@pytest.mark.parametrize("text,reason", [
    ("stop file /x/STOP exists", ExitReason.STOP),
    ("time limit of 60 s reached (JUG_MAX_HOURS/MINUTES/SECONDS)", ExitReason.BUDGET),
    ("executed 3 tasks (JUG_MAX_TASKS / exit_after_n_tasks)", ExitReason.BUDGET),
    ("not enough time left for jugfile.slow (typically 9.0s, 2.0s left)", ExitReason.BUDGET),
    ("exit_when_true(done)", ExitReason.EXIT_CHECK),
])
def test_exit_check_descriptions_map_to_reasons(text: str, reason: ExitReason) -> None:
    assert reason_of_exit_check(text) is reason
