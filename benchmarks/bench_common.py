"""What the benchmarks share: running a checkout's jug in subprocesses, rows, the table."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Checkout:
    """A copy of jug's source measured by putting it first on PYTHONPATH."""

    label: str
    path: Path

    def env(self, extra: dict | None = None) -> dict:
        """The environment of a subprocess that imports this checkout's jug."""
        # no JUG_ settings, and bytecode caching on (users' installs have .pyc files; without
        # them every start compiles jug again)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUG_", "SLURM_")) and k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(self.path)
        env["JUG_CONFIG"] = os.devnull
        env.update(extra or {})
        return env


@dataclass
class Row:
    """One line of the table: a figure per checkout and the floor measured beside it."""

    work: str
    unit: str  # "s", "ms", "us" or "x" (a speed-up)
    value: dict[str, float]
    floor: dict[str, float | None] = field(default_factory=dict)
    floor_what: str = ""
    target: str = ""
    met: Callable[[float, float | None], bool] | None = None
    #: the issue's target over the issue's floor (its machine): the same target at the floor
    #: of this run, for a machine faster or slower than that one (speed-ups: at least this
    #: times the floor; other units: at most)
    per_floor: float | None = None
    #: seconds the work would spend on a loaded NFS server: its metadata operations (opens,
    #: stats, listings, renames, unlinks) at 1 ms each, per checkout
    nfs: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def one(label: str, work: str, unit: str, value: float, floor: float | None = None,
            floor_what: str = "", target: str = "",
            met: Callable[[float, float | None], bool] | None = None,
            per_floor: float | None = None, nfs: dict[str, float] | None = None) -> Row:
        """A row measured for one checkout."""
        return Row(work, unit, {label: value}, {label: floor}, floor_what, target, met,
                   per_floor, dict(nfs or {}))

    def scaled(self, v: float | None, f: float | None) -> tuple[str, str]:
        """(target at this run's floor, met or not) for :attr:`per_floor` rows."""
        if self.per_floor is None or v is None or not f:
            return "-", "-"
        goal = self.per_floor * f
        if self.unit == "x":
            return f">= {_fmt(goal, self.unit)}", "yes" if v >= goal else "NO"
        return f"<= {_fmt(goal, self.unit)}", "yes" if v <= goal else "NO"

    @staticmethod
    def merge(per_checkout: list[list[Row]]) -> list[Row]:
        """Rows of several checkouts (same order) as one row per work item."""
        out = []
        for same in zip(*per_checkout):
            row = replace(same[-1], value={}, floor={}, nfs={})
            for r in same:
                row.value.update(r.value)
                row.floor.update(r.floor)
                row.nfs.update(r.nfs)
            out.append(row)
        return out


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """Row by row, the median figure and floor of several runs of one checkout."""
    out = []
    for same in zip(*runs):
        label = next(iter(same[0].value))
        floors = [r.floor[label] for r in same if r.floor.get(label) is not None]
        nfs = [r.nfs[label] for r in same if label in r.nfs]
        out.append(replace(same[0], value={label: statistics.median(r.value[label] for r in same)},
                           floor={label: statistics.median(floors) if floors else None},
                           nfs={label: statistics.median(nfs)} if nfs else {}))
    return out


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "x":
        return f"{v:.2f}x"
    return (f"{v:,.0f} {unit}" if v >= 100 else f"{v:.3g} {unit}").strip()


def print_table(rows: list[Row], labels: list[str]) -> None:
    """The table: work, each checkout's figure, (the NFS estimate of each,) the floor, the
    ratio, the target, met or not."""
    with_nfs = any(r.nfs for r in rows)
    head = ["work", *labels, *(["NFS estimate (1 ms/op)"] if with_nfs else []),
            "floor (same run)", "ratio", "target", "met", "target at this floor", "met"]
    lines = []
    for r in rows:
        last = labels[-1]
        v, f = r.value.get(last), r.floor.get(last)
        ratio = f"{v / f:.2f}" if v is not None and f else "-"
        floor = f"{_fmt(f, r.unit)} {r.floor_what}".strip() if f is not None else r.floor_what or "-"
        met = "-" if r.met is None or v is None else ("yes" if r.met(v, f) else "NO")
        nfs = [" / ".join(_fmt(r.nfs.get(x), "s") for x in labels)] if with_nfs else []
        lines.append([r.work, *(_fmt(r.value.get(x), r.unit) for x in labels), *nfs, floor,
                      ratio, r.target, met, *r.scaled(v, f)])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    print()
    for i, line in enumerate([head, *lines]):
        print(" | ".join(str(x).ljust(w) for x, w in zip(line, widths)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def run_parallel(c: Checkout, args: list[str], cwd: Path, workers: int = 1,
                 env: dict | None = None) -> float:
    """Start ``workers`` copies of ``python -m jug ARGS`` at once; wall seconds until all end."""
    cmd = [sys.executable, "-m", "jug", *map(str, args)]
    return _run_all([cmd] * workers, cwd, c.env(env))


def run_cpu(c: Checkout, args: list[str], cwd: Path, env: dict | None = None) -> float:
    """CPU seconds (user + system) of ``python -m jug ARGS``: on a shared machine much steadier
    than wall time for CPU-bound commands such as ``jug status``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_parallel(c, args, cwd, 1, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _run_all(cmds: list[list[str]], cwd: Path, env: dict) -> float:
    """Start every command at once and wait for all; wall seconds (exits if one fails)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for cmd in cmds]
    errors = [(p.args, p.communicate()[1]) for p in procs]
    wall = time.perf_counter() - t0
    for p, (args, err) in zip(procs, errors):
        if p.returncode != 0:
            sys.exit(f"benchmark command failed ({p.returncode}): {' '.join(args)}\n{err}")
    return wall


def python_parallel(code: str, cwd: Path, workers: int, env: dict | None = None) -> float:
    """Wall seconds of ``workers`` plain Pythons running ``code`` at once (a floor)."""
    return _run_all([[sys.executable, "-c", code]] * workers, cwd, env or dict(os.environ))


def python_json(c: Checkout, code: str, cwd: Path, env: dict | None = None,
                args: list[str] | None = None) -> dict:
    """Run ``code`` with the checkout's jug importable; it prints one JSON line last."""
    p = subprocess.run([sys.executable, "-c", code, *(args or [])], cwd=cwd, env=c.env(env),
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"benchmark script failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def python_startup(n: int = 5) -> float:
    """Median seconds of ``python -c pass`` with this environment's site-packages."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def install_kind() -> str:
    """How the interpreter would import jug without PYTHONPATH: editable, regular, or not."""
    from importlib import metadata

    try:
        dist = metadata.distribution("jug")
    except metadata.PackageNotFoundError:
        return "not installed"
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        return f"editable install of {json.loads(direct).get('url', '?')} (adds a path hook " \
               "to every Python start; scripts/setup.sh installs non-editable)"
    return f"regular install, version {dist.version}"


def redis_parser() -> str:
    """Which reply parser redis-py uses here (hiredis, in C, saves about a third per task)."""
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return "redis-py not installed"
    return "hiredis" if HIREDIS_AVAILABLE else "pure Python (pip install hiredis)"
