"""What a shared filesystem pays (issue 24): files opened and system calls of ``jug status``
and of an execute start, system calls and CPU per tiny task, and status on a million tasks.

On NFS, Lustre or GPFS every open, stat, listing, rename and unlink is a round trip to a
metadata server (0.3-2 ms, shared with every user), so these rows count them exactly
(``strace -f``, whole process, interpreter start-up included) instead of timing them on the
local tmpfs, and the "NFS estimate" column prices each metadata operation at 1 ms.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench_common import Checkout, Row, python_json, run_parallel
from bench_rows import FABRICATE, TINY_JUGFILE, _jugfile, _n, _status_store

#: system calls that name a path or read a folder: each a metadata round trip on NFS
#: (``newfstatat(fd, "")``, an fstat of an open file, is served from the attribute cache)
METADATA = frozenset({
    "open", "openat", "openat2", "creat", "stat", "lstat", "newfstatat", "statx", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "mkdir",
    "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "truncate", "utimensat"})
OPENS = frozenset({"open", "openat", "openat2", "creat"})
_CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?(\w+)(\(| resumed>)")
#: a stat of an open descriptor, not of a path
_FD_STAT = re.compile(r'^\d+\s+(newfstatat|statx)\(\d+, "",')


@dataclass(frozen=True)
class Calls:
    """What one traced command did: every system call, files opened, metadata operations."""

    total: int
    opens: int
    metadata: int
    by_name: dict[str, int]

    @property
    def nfs_seconds(self) -> float:
        """The metadata operations at 1 ms each: what the command costs on a loaded NFS."""
        return self.metadata * 1e-3


def strace_available() -> bool:
    return shutil.which("strace") is not None


def traced(c: Checkout, args: list[str], cwd: Path, env: dict | None = None) -> Calls:
    """Run ``python -m jug ARGS`` under ``strace -f`` (every thread and child) and count."""
    with tempfile.NamedTemporaryFile(prefix="jugbench-strace-", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as out:
        cmd = ["strace", "-f", "-qq", "-o", out.name, sys.executable, "-m", "jug", *map(str, args)]
        p = subprocess.run(cmd, cwd=cwd, env=c.env(env), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"traced command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        return count_calls(Path(out.name))


def count_calls(trace: Path) -> Calls:
    """Count the calls of an ``strace -f`` log (a call split by another thread counts once)."""
    names: Counter = Counter()
    fd_stats = 0
    with open(trace, errors="replace") as f:
        for line in f:
            m = _CALL.match(line)
            if m is None or m.group(2) != "(":
                continue  # "<... read resumed>": counted where it started; signals, exits
            names[m.group(1)] += 1
            if _FD_STAT.match(line):
                fd_stats += 1
    meta = sum(n for k, n in names.items() if k in METADATA) - fd_stats
    return Calls(sum(names.values()), sum(names[k] for k in OPENS), meta, dict(names))


def _count_rows(c: Checkout, what: str, n: int, calls: Calls, bare: Calls) -> list[Row]:
    """The files-opened and system-calls rows of one traced command, beside what a bare
    interpreter (``python -c pass``, this environment's site packages) does."""
    nfs = {c.label: calls.nfs_seconds}
    return [
        Row.one(c.label, f"{what}, {n:,} results: files opened", "", calls.opens, bare.opens,
                "python -c pass", "<= 500, flat", lambda v, f: v <= 500, nfs=nfs),
        Row.one(c.label, f"{what}, {n:,} results: system calls", "", calls.total, bare.total,
                "python -c pass", nfs=nfs),
    ]


def traced_python(c: Checkout, cwd: Path) -> Calls:
    """What a bare interpreter costs here: ``python -c pass`` under ``strace -f``."""
    with tempfile.NamedTemporaryFile(prefix="jugbench-strace-", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as out:
        subprocess.run(["strace", "-f", "-qq", "-o", out.name, sys.executable, "-c", "pass"],
                       cwd=cwd, env=c.env(), check=True)
        return count_calls(Path(out.name))


def _finished_store(c: Checkout, w: Path, n: int) -> tuple[Path, Path]:
    """(jugfile, jugdir) of ``n`` finished tiny tasks (made once per run, on tmpfs)."""
    jf = _jugfile(w, "tiny.py", TINY_JUGFILE)
    store = _status_store(c.label, n)
    if not store.exists():
        python_json(c, FABRICATE, w, _n(n), [str(jf), str(store)])
    return jf, store


def listing_rows(c: Checkout, w: Path, sizes: tuple[int, ...]) -> list[Row]:
    """Files opened and system calls of ``jug status`` and of an execute start on finished
    stores of each size: flat when they read listings, one open per result when they verify."""
    rows: list[Row] = []
    bare = traced_python(c, w)
    jf = _jugfile(w, "tiny.py", TINY_JUGFILE)
    for cmd in ("execute", "status"):  # once untraced: byte code compiled, not counted
        run_parallel(c, [cmd, jf, "--jugdir", w / "warm"], w, 1, _n(1))
    for n in sizes:
        jf, store = _finished_store(c, w, n)
        status = traced(c, ["status", "--short", jf, "--jugdir", store], w, _n(n))
        start = traced(c, ["execute", jf, "--jugdir", store], w, _n(n))
        rows += _count_rows(c, "jug status", n, status, bare)
        rows += _count_rows(c, "execute start (all finished)", n, start, bare)
    return rows


RAW_FLOOR = """
import hashlib, json, os, sys

n, folder = int(sys.argv[1]), sys.argv[2]
locks, results = os.path.join(folder, "locks"), os.path.join(folder, "results")
os.makedirs(locks)
for i in range(256):
    os.makedirs(os.path.join(results, "%02x" % i))
body = json.dumps({"host": os.uname().nodename, "pid": os.getpid(), "started": 1.0,
                   "locked_at": 1.0, "heartbeat": 1.0, "job": None}).encode()
data = b"x" * 23
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
for i in range(n):  # lock, write, rename, unlock with bare system calls
    h = hashlib.sha1(b"%d" % i).hexdigest()
    lock = locks + "/" + h
    fd = os.open(lock, flags, 0o664)
    os.write(fd, body)
    os.close(fd)
    tmp = "%s/%s/.tmp.%d" % (results, h[:2], i)
    fd = os.open(tmp, flags, 0o664)
    os.write(fd, data)
    os.close(fd)
    os.rename(tmp, "%s/%s/%s" % (results, h[:2], h[2:]))
    os.unlink(lock)
"""

STORE_FLOOR = """
import hashlib, sys
from jug.backends.file_store import FileStore

n, folder = int(sys.argv[1]), sys.argv[2]
store = FileStore(folder)
for i in range(n):  # what the store must do for each task, and nothing else
    h = hashlib.sha1(b"%d" % i).hexdigest()
    store.claim(h)  # lock, then the result and failure-mark tests
    store.save(h, i * i)  # write and rename
    store.unlock(h)
"""


def _floor_cpu(c: Checkout, w: Path, n: int, script: str) -> float:
    """CPU seconds (whole process) of a floor ``script`` doing ``n`` tasks (the store
    floor with the measured checkout's file store)."""
    d = Path(tempfile.mkdtemp(prefix="jugbench-floor-", dir="/dev/shm"))
    try:
        return _cpu_of([sys.executable, "-c", script, str(n), str(d / "s")], w, c.env())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _cpu_of(cmd: list[str], cwd: Path, env: dict) -> float:
    """CPU seconds (user + system) of one command, children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _jug_cpu(c: Checkout, w: Path, jf: Path, n: int) -> float:
    """CPU seconds of one ``jug execute`` of ``n`` tiny tasks on a fresh tmpfs store."""
    d = Path(tempfile.mkdtemp(prefix="jugbench-cpu-", dir="/dev/shm"))
    try:
        return _cpu_of([sys.executable, "-m", "jug", "execute", str(jf), "--jugdir", str(d / "s")],
                       w, c.env(_n(n)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def per_task_rows(c: Checkout, w: Path, n_calls: int, n_cpu: int, rounds: int = 3) -> list[Row]:
    """System calls per tiny task (exact), and CPU per tiny task beside two floors: the file
    store's own claim (lock, result test, failure-mark test) + save (write, rename) + unlock
    called in a plain loop, which is what every task must cost the store (the judged floor:
    what jug adds beyond it is the worker's bookkeeping, loading and hashing); and the same
    lock, write, rename and unlock as bare system calls.  Whole process, per task as
    (cost of n tasks - cost of 1 task) / (n - 1); the CPU figures interleaved, least kept."""
    jf = _jugfile(w, "tiny.py", TINY_JUGFILE)
    per = {}
    for n in (1, n_calls):
        d = Path(tempfile.mkdtemp(prefix="jugbench-calls-", dir="/dev/shm"))
        try:
            per[n] = traced(c, ["execute", jf, "--jugdir", d / "s"], w, _n(n))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    calls = (per[n_calls].total - per[1].total) / (n_calls - 1)
    ways = {"jug": lambda n: _jug_cpu(c, w, jf, n),
            "store": lambda n: _floor_cpu(c, w, n, STORE_FLOOR),
            "raw": lambda n: _floor_cpu(c, w, n, RAW_FLOOR)}
    got: dict[tuple[str, int], list[float]] = {}
    for r in range(rounds):  # all take turns, the order rotating: the same neighbours
        names = list(ways)[r % 3:] + list(ways)[:r % 3]
        for size in (1, n_cpu):
            for name in names:
                got.setdefault((name, size), []).append(ways[name](size))
    cpu = {name: (min(got[(name, n_cpu)]) - min(got[(name, 1)])) / (n_cpu - 1) for name in ways}
    detail = ", ".join(f"{k} {v / n_calls:.1f}" for k, v in
                       sorted(_per_task_names(per[1], per[n_calls]).items(),
                              key=lambda kv: -kv[1])[:6])
    work = f"CPU per tiny task (tmpfs, whole process, {n_cpu:,} tasks)"
    return [
        Row.one(c.label, f"system calls per tiny task (file store, {n_calls:,} tasks; {detail})",
                "", calls, 8.0, "lock+write+rename+unlock", "<= 12",
                lambda v, f: v <= 12),
        Row.one(c.label, work, "us", cpu["jug"] * 1e6, cpu["store"] * 1e6,
                "store claim+save+unlock", "<= 1.15x the floor",
                lambda v, f: f is not None and v <= 1.15 * f),
        Row.one(c.label, f"{work}, beside bare system calls", "us", cpu["jug"] * 1e6,
                cpu["raw"] * 1e6, "os lock+write+rename+unlock"),
    ]


def _per_task_names(one: Calls, many: Calls) -> dict[str, int]:
    """Calls by name that the extra tasks added (the composition of a task's calls)."""
    return {k: v - one.by_name.get(k, 0) for k, v in many.by_name.items()
            if v - one.by_name.get(k, 0) > 0}


MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
if p.returncode != 0:
    sys.exit(p.stderr)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": r.ru_utime + r.ru_stime, "rss_kib": r.ru_maxrss,
                  "out": p.stdout}))
"""


def _status_once(c: Checkout, w: Path, jf: Path, store: Path, n: int) -> dict:
    """Wall, CPU and peak memory of one ``jug status --short`` on ``store`` (a fresh process
    measures it, so the peak is that command's own)."""
    return python_json(c, MEASURE, w, _n(n), [sys.executable, "-m", "jug", "status", "--short",
                                               str(jf), "--jugdir", str(store)])


def million_rows(c: Checkout, w: Path, sizes: tuple[int, int], rounds: int = 3) -> list[Row]:
    """``jug status`` on a million finished tasks (tmpfs): time, memory, and per task against
    the smaller size (linear: 1.0).  The store is shared by the checkouts (same hashes)."""
    jf = _jugfile(w, "tiny.py", TINY_JUGFILE)
    got = {}
    for n in sizes:
        store = _status_store("shared", n)
        python_json(c, FABRICATE_MISSING, w, _n(n), [str(jf), str(store)])
        runs = [_status_once(c, w, jf, store, n) for _ in range(rounds)]
        if f"{n} finished" not in runs[0]["out"]:
            sys.exit(f"the {n:,}-task store is not all finished for {c.label}: {runs[0]['out']}")
        got[n] = min(runs, key=lambda r: r["wall"])
        got[n]["cpu"] = min(r["cpu"] for r in runs)
        got[n]["rss_kib"] = max(r["rss_kib"] for r in runs)
    small, big = sizes
    big_r, small_r = got[big], got[small]
    return [
        Row.one(c.label, f"jug status, {big:,} finished (tmpfs): time (best of {rounds}; "
                f"CPU {big_r['cpu']:.2f} s)", "s", big_r["wall"], target="< 4 s",
                met=lambda v, f: v < 4),
        Row.one(c.label, f"jug status, {big:,} finished: peak memory", "MiB",
                big_r["rss_kib"] / 1024, target="< 2048 MiB", met=lambda v, f: v < 2048),
        Row.one(c.label, f"jug status per task, {big:,} vs {small:,} tasks (time)", "x",
                (big_r["wall"] / big) / (small_r["wall"] / small), 1.0, "linear",
                "<= 1.15 (linear)", lambda v, f: v <= 1.15),
    ]


FABRICATE_MISSING = """
import json, os, sys
import jug
try:
    from jug.engine.gcpause import building_graph
except ImportError:  # a checkout from before the engine had its own package
    from jug.gcpause import building_graph
store, ns = jug.init(sys.argv[1], sys.argv[2])
have = set(store.list())
made = 0
with building_graph():
    for t in ns["results"]:
        h = t.hash()
        if h not in have:
            store.save(h, 0)
            made += 1
print(json.dumps({"n": len(ns["results"]), "made": made}))
"""

