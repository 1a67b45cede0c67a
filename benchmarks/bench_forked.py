"""Rows of ``jug execute -j K`` (issue 23), each beside K separate ``jug execute`` processes
measured in the same run: speed-up on sleeps and on tiny tasks, start-up, memory (PSS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from bench_common import Checkout, Row, run_parallel
from bench_rows import SLEEP_JUGFILE, TINY_JUGFILE, _jugfile, _n

GATED_JUGFILE = """
import os, time
from jug import TaskGenerator

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate")

@TaskGenerator
def held(i):
    while not os.path.exists(GATE):
        time.sleep(0.05)
    return i

results = [held(i) for i in range(int(os.environ["BENCH_N"]))]
"""


def _jobs(c: Checkout, jf: Path, jd: Path, w: Path, k: int, n: int) -> float:
    """Wall seconds of one ``jug execute -j k``."""
    return run_parallel(c, ["execute", "-j", str(k), jf, "--jugdir", jd], w, 1, _n(n))


def speedups(c: Checkout, w: Path, sleep_n: int, tiny_n: int) -> list[Row]:
    """-j 8 vs -j 1 on 50 ms sleeps, -j 2 vs -j 1 on tiny tasks; floors: separate processes."""
    rows = []
    for text, n, k, goal in ((SLEEP_JUGFILE, sleep_n, 8, 7.2), (TINY_JUGFILE, tiny_n, 2, 1.8)):
        jf = _jugfile(w, f"f{k}.py", text)
        one = _jobs(c, jf, w / f"one{k}", w, 1, n)
        forked = _jobs(c, jf, w / f"forked{k}", w, k, n)
        separate = run_parallel(c, ["execute", jf, "--jugdir", w / f"sep{k}"], w, k, _n(n))
        what = f"{n} x 50 ms sleeps" if k == 8 else f"{n:,} tiny tasks"
        rows.append(Row.one(c.label, f"{what}, -j {k} vs -j 1 (speed-up)", "x", one / forked,
                            one / separate, f"{k} separate processes", f">= {goal}",
                            lambda v, f, g=goal: v >= g))
    return rows


def startup(c: Checkout, w: Path, n: int = 20_000) -> list[Row]:
    """Wall time of a worker with nothing left to do (load, hash, read the store, leave):
    -j 8 over -j 1, beside 8 separate processes over 1."""
    jf = _jugfile(w, "done.py", TINY_JUGFILE)
    jd = w / "done"
    _jobs(c, jf, jd, w, 2, n)  # run everything once: the figures below are pure start-up
    best = {}
    for label, run in (("1", lambda: _jobs(c, jf, jd, w, 1, n)),
                       ("j8", lambda: _jobs(c, jf, jd, w, 8, n)),
                       ("sep8", lambda: run_parallel(c, ["execute", jf, "--jugdir", jd], w, 8,
                                                     _n(n)))):
        best[label] = min(run() for _ in range(3))
    return [Row.one(c.label, f"start-up on {n:,} finished tasks, -j 8 over -j 1", "x",
                    best["j8"] / best["1"], best["sep8"] / best["1"],
                    "8 separate processes", "<= 1.3", lambda v, f: v <= 1.3)]


def _pss_tree(root: int) -> float:
    """Proportional set size (bytes) of ``root`` and every descendant."""
    procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    return float(sum(p.memory_full_info().pss for p in procs))


def _held_pss(c: Checkout, w: Path, name: str, n: int, args: list[str], copies: int) -> float:
    """PSS of ``copies`` ``jug execute ARGS`` processes once every worker holds a task (the
    graph is built), summed over their process trees; then drained by SIGTERM."""
    jf = _jugfile(w, "held.py", GATED_JUGFILE)
    jd = w / name
    cmd = [sys.executable, "-m", "jug", "execute", *args, str(jf), "--jugdir", str(jd)]
    procs = [subprocess.Popen(cmd, cwd=w, env=c.env(_n(n)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(copies)]
    try:
        workers = copies * (int(args[1]) if args[:1] == ["-j"] else 1)
        deadline = time.monotonic() + 300
        locks = jd / "locks"
        while time.monotonic() < deadline:
            if locks.is_dir() and len(os.listdir(locks)) >= workers:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        return sum(_pss_tree(p.pid) for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)


def memory(c: Checkout, w: Path, n: int = 50_000) -> list[Row]:
    """PSS of -j 8 over one worker's on an ``n``-task graph, beside 8 separate workers'."""
    one = _held_pss(c, w, "m1", n, [], 1)
    forked = _held_pss(c, w, "m8", n, ["-j", "8"], 1)
    separate = _held_pss(c, w, "s8", n, [], 8)
    return [Row.one(c.label, f"memory (PSS) on a {n:,}-task graph, -j 8 over one worker",
                    "x", forked / one, separate / one, "8 separate processes", "<= 2",
                    lambda v, f: v <= 2)]
