"""``jug status``: renderings of a known summary, the one order of counts, named failures,
terminal vs plain output, ``--watch`` and ``--traceback``.

Golden files: tests/golden/status_summary.json (a known ``--json`` document) renders to
status_plain.txt and status_terminal.txt; ``JUG_UPDATE_GOLDEN=1`` rewrites them (review the diff).
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ok, run_jug, start_jug, stop, wait_until, write_jugfile
from support import status as status_json

from jug.state.taskstate import STATES
from jug.status.progress import counts_text, format_short, format_table

GOLDEN = Path(__file__).parent / "golden"
ESC = "\x1b["

FAILING = """
import os, time
from jug import TaskGenerator

@TaskGenerator
def work(i):
    if i in (2, 5):
        raise ValueError(f"bad input {i}\\nmore detail")
    return i

@TaskGenerator
def add(xs):
    return sum(xs)

total = add([work(i) for i in range(8)])
"""

# tasks that wait for a file, so a worker stays alive (and its records are live) meanwhile
GATED = """
import os, time
from jug import TaskGenerator

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate")

@TaskGenerator
def slow(i):
    while not os.path.exists(GATE):
        time.sleep(0.05)
    return i

xs = [slow(i) for i in range(3)]
"""


def _summary() -> dict:
    return json.loads((GOLDEN / "status_summary.json").read_text())


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JUG_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; JUG_UPDATE_GOLDEN=1 rewrites it"


def test_plain_rendering_of_a_known_store() -> None:
    text = format_table(_summary()) + "\n"
    assert ESC not in text
    _golden("status_plain.txt", text)
    lines = text.splitlines()
    assert lines[0].split() == ["Task", "name", "Waiting", "Ready", "Finished", "Running", "Failed"]
    assert "54 of 81 finished (67%); 12.5 tasks/min" in text and "3 live workers" in text
    assert "ETA: about 1m40s at 3 workers" in text
    assert "jugfile.fit 3f9a00000000: ValueError: no convergence" in text


def test_terminal_rendering_has_bars_and_the_same_figures() -> None:
    from rich.console import Console

    from jug.status.progress_rich import renderable

    con = Console(file=io.StringIO(), width=110, force_terminal=True, color_system="standard",
                  record=True)
    con.print(renderable(_summary()))
    raw = con.file.getvalue()  # type: ignore[attr-defined]
    assert ESC in raw  # colours on a terminal
    text = con.export_text()
    _golden("status_terminal.txt", text)
    fit = next(ln for ln in text.splitlines() if ln.startswith("jugfile.fit"))
    assert "━" in fit and fit.split()[-6:] == ["35%", "0", "22", "14", "3", "1"]
    plain = format_table(_summary())
    for needle in ("54 of 81 finished", "ETA: about 1m40s", "ValueError: no convergence",
                   "locked by: node1:101 (slurm 77_1)"):
        assert needle in text and needle in plain


def test_one_order_everywhere() -> None:
    summary = _summary()
    assert tuple(summary["order"]) == STATES
    assert STATES[:5] == ("waiting", "ready", "finished", "running", "failed")
    assert format_short(summary) == "81 tasks: 1 waiting, 22 ready, 54 finished, 3 running, 1 failed"
    from jug.commands.submit import _describe_status

    line, left = _describe_status(summary)
    assert line == counts_text(summary["total"]) and left
    header = format_table(summary).splitlines()[0].lower().split()[2:]
    assert tuple(header) == STATES[:5]
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    orders = re.findall(r"(Waiting|waiting)\W+(\w+)\W+(\w+)\W+(\w+)\W+(Failed|failed)", readme)
    assert orders and all([w.lower() for w in o] == list(STATES[:5]) for o in orders), orders
    assert re.search(r"`crashed`[^\n]*lock", readme)  # explained


def test_failed_tasks_are_named_with_their_first_error_line(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    p = run_jug("execute", jf, "--keep-going")
    assert p.returncode == 1
    st = status_json(jf, tmp_path / "jugfile.jugdata")
    assert list(st["total"]) == list(STATES) and st["total"]["failed"] == 2
    rows = st["failures"]
    assert [r["first_line"] for r in rows] == ["ValueError: bad input 2", "ValueError: bad input 5"]
    text = ok("status", jf).stdout
    assert ESC not in text  # piped: plain
    for r in rows:
        assert f"jugfile.work {r['hash'][:12]}: ValueError: bad input" in text
    assert "full traceback: jug status --traceback NAME|HASH|all" in text
    tb = ok("status", jf, "--traceback", rows[0]["hash"][:8]).stdout
    assert 'raise ValueError(f"bad input {i}\\nmore detail")' in tb and "more detail" in tb
    bad = run_jug("status", jf, "--traceback", "zzzz")
    assert bad.returncode == 1 and bad.stderr.startswith("jug: no failed task has a hash")
    assert "Traceback" not in bad.stderr


def _on_terminal(*args: str, env: dict | None = None) -> str:
    """Run ``jug`` with stdout on a pseudo-terminal; what it printed."""
    from support import jug_env

    master, slave = pty.openpty()
    e = jug_env(env)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    e["COLUMNS"] = "120"
    proc = subprocess.Popen([sys.executable, "-m", "jug", *args], stdout=slave,
                            stderr=subprocess.PIPE, env=e, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode()


def test_terminal_gets_bars_and_no_color_gets_plain_text(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    run_jug("execute", jf, "--keep-going")
    fancy = _on_terminal("status", str(jf))
    assert ESC in fancy and "━" in fancy and "jugfile.work" in fancy
    plain = _on_terminal("status", str(jf), env={"NO_COLOR": "1"})
    assert ESC not in plain and "━" not in plain
    assert "Waiting" in plain and "2 failed" not in plain and "Failed (2)" in plain


def test_watch_redraws_until_everything_is_done(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GATED)
    worker = start_jug("execute", jf)
    watch = start_jug("status", jf, "--watch", "0.2")
    try:
        st = wait_until(lambda: (lambda d: d if d["total"]["running"] else None)(
            status_json(jf, tmp_path / "jugfile.jugdata")), what="a running task")
        assert st["total"]["running"] == 1 and st["progress"]["live_workers"] == 1
        first = ""
        while not first.startswith("Total:"):  # the watch has drawn a frame while it ran
            first = watch.stdout.readline() if watch.stdout else "Total:"
        (tmp_path / "gate").touch()
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        worker.communicate(timeout=60)
    finally:
        for p in (watch, worker):
            if p.poll() is None:
                stop(p)
    assert first.split()[3] == "0"  # the first frame: nothing finished yet
    assert out.count("Task name") >= 1  # redrawn after the gate opened
    assert "3 of 3 finished (100%)" in out.split("Task name")[-1]  # the last frame: done
    assert ESC not in out
    st = status_json(jf, tmp_path / "jugfile.jugdata")
    assert st["progress"]["live_workers"] == 0 and st["progress"]["workers_recorded"] == 1


def test_watch_rejects_a_bad_interval(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    p = run_jug("status", jf, "--watch", "-1")
    assert p.returncode == 2 and p.stderr.strip() == "jug: --watch -1: give a positive number of seconds"


@pytest.mark.parametrize("flag", ["--short", "--json"])
def test_short_and_json_ignore_the_terminal(tmp_path: Path, flag: str) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    out = _on_terminal("status", flag, str(jf))
    assert ESC not in out
    if flag == "--json":
        assert json.loads(out)["order"] == list(STATES)
    else:
        assert out.strip() == "9 tasks: 1 waiting, 8 ready, 0 finished, 0 running, 0 failed"


def test_piped_status_does_not_import_rich(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    code = ("import sys; from jug.commands.cli import main; main(['status', sys.argv[1]]); "
            "print('rich loaded:', any(m == 'rich' or m.startswith('rich.') for m in sys.modules))")
    from support import jug_env

    p = subprocess.run([sys.executable, "-c", code, str(jf)], capture_output=True, text=True,
                       env=jug_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip().endswith("rich loaded: False")


def test_watch_on_a_terminal_draws_with_rich_and_stops_when_done(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    run_jug("execute", jf, "--keep-going")  # everything finished or failed (or blocked)
    p = run_jug("status", jf, "--json")
    assert json.loads(p.stdout)["total"]["waiting"] == 1  # the sum waits on failed tasks
    out = _on_terminal("status", str(jf), "--watch", "0.1")
    assert ESC in out and "━" in out and "Failed (2)" in out


def test_json_counts_the_workers_that_left_per_reason(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING)
    run_jug("execute", jf, env={"JUG_MAX_TASKS": "1"})
    run_jug("execute", jf, "--keep-going")
    st = status_json(jf, tmp_path / "jugfile.jugdata")
    assert st["progress"]["exits"] == {"budget": 1, "task failed": 1}
    assert st["progress"]["workers_recorded"] == 2 and st["progress"]["live_workers"] == 0


def test_watch_before_the_jugfile_still_finds_it(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, FAILING, "run.py")
    run_jug("execute", jf, "--keep-going")
    p = run_jug("status", "--watch", "run.py", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "run.work" in p.stdout and "Failed (2)" in p.stdout
    bad = run_jug("status", jf, "--watch", "soon")
    assert bad.returncode == 2 and bad.stderr.strip() == \
        "jug: --watch soon: give a positive number of seconds"


def _record_chain(jf: Path, jd: Path, generations: int) -> None:
    """A --until-done chain record of ``generations`` generations and a long last plan."""
    import time

    from jug.backends import select_store
    from jug.hpc.chain.records import Chain, Generation

    now = time.time()
    chain = Chain(jugfile=str(jf), jugdir=str(jd), workdir=str(jf.parent), scheduler="slurm",
                  settings={}, jugfile_args=[], max_workers=2, max_queued=None,
                  max_generations=21, stale_after=300.0, started=now - 600)
    chain.generations = [Generation(n=n, arrays=[str(100 + n)], workers=2, submitted=now - 100,
                                    by="worker node1:1 (budget spent)", after=n - 1,
                                    finished_before=0, planner=str(200 + n))
                         for n in range(1, generations + 1)]
    chain.last_poll = {"at": now - 5, "by": "planner job 203",
                       "line": "3 ready, 0 running; " + "a long explanation " * 15}
    chain.save(select_store(str(jd)))


def test_short_is_one_line_with_a_chain(tmp_path: Path) -> None:
    """Issue 21, item 8: the chain's state joins the one line; generations and the last plan
    are in the full status only."""
    jf = write_jugfile(tmp_path, FAILING)
    jd = tmp_path / "jugfile.jugdata"
    run_jug("execute", jf, "--keep-going")  # exits 1: two tasks fail
    _record_chain(jf, jd, 3)
    out = ok("status", jf, "--short").stdout
    assert out.count("\n") == 1, out
    assert out.strip() == ("9 tasks: 1 waiting, 0 ready, 6 finished, 0 running, 2 failed; "
                           "chain running, generation 3 of at most 21")
    full = ok("status", jf).stdout
    assert "generation 3: array(s) 103" in full and "last plan at" in full
    assert status_json(jf, jd)["chain_state"] == {
        "status": "running", "generations": 3, "max_generations": 21, "reason": ""}
