"""Every row of the performance table (issue 13), each beside a floor measured in the same run.

    python benchmarks/run.py                 # the full table (a few minutes)
    python benchmarks/run.py --quick         # smaller sizes, under a minute
    python benchmarks/run.py --baseline DIR  # also measure the checkout DIR, row by row (paired)
    python benchmarks/run.py --checkout DIR  # measure DIR instead of this checkout
    python benchmarks/run.py --only redis,status

jug always runs in subprocesses with ``PYTHONPATH`` set to the checkout measured, so the figures
are those of that code whatever is installed; the header says which install the interpreter
would otherwise import (an editable install adds a path hook to every Python start).  The
machine is shared and noisy: each figure is the median of ``--repeat`` runs (beside a baseline
the checkouts take turns, A B then B A), and the ratio to the floor measured in the same run
is what to compare between runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forked  # noqa: E402
import bench_rows  # noqa: E402
from bench_common import (  # noqa: E402
    ROOT,
    Checkout,
    Row,
    install_kind,
    median_rows,
    print_table,
    python_startup,
    redis_parser,
)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is (``--quick`` shrinks them)."""

    sleep_tasks: int
    tiny_tasks: int
    arrays: int
    hash_tasks: int
    redis_tasks: int
    status_tasks: tuple[int, int]
    fsync_tasks: int
    graph_tasks: int  # the graph whose memory -j 8 shares


FULL = Sizes(sleep_tasks=200, tiny_tasks=10_000, arrays=20, hash_tasks=5, redis_tasks=2000,
             status_tasks=(50_000, 200_000), fsync_tasks=1000, graph_tasks=50_000)
QUICK = Sizes(sleep_tasks=48, tiny_tasks=2000, arrays=5, hash_tasks=3, redis_tasks=2000,
              status_tasks=(20_000, 80_000), fsync_tasks=200, graph_tasks=10_000)
HUGE_STATUS = (200_000, 1_000_000)

ROWS = ("sleep", "tiny", "arrays", "hash", "redis", "status", "fsync", "overhead", "jobs",
        "jobs-startup", "jobs-memory", "resources")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes: under a minute")
    ap.add_argument("--huge", action="store_true", help="status up to 1,000,000 tasks")
    ap.add_argument("--repeat", type=int, default=None, help="runs per figure (median kept)")
    ap.add_argument("--baseline", type=Path, help="another checkout measured beside this one")
    ap.add_argument("--checkout", type=Path, default=ROOT,
                    help="the checkout measured as 'jug' (default: this one)")
    ap.add_argument("--only", default=",".join(ROWS), help=f"rows to run, of: {','.join(ROWS)}")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="folder on the disk measured")
    a = ap.parse_args(argv)
    sizes = QUICK if a.quick else FULL
    if a.huge:
        sizes = Sizes(**{**sizes.__dict__, "status_tasks": HUGE_STATUS})
    repeat = a.repeat or (1 if a.quick else 2)  # 2: A B then B A beside a baseline
    wanted = [r.strip() for r in a.only.split(",") if r.strip()]
    unknown = set(wanted) - set(ROWS)
    if unknown:
        ap.error(f"unknown row(s) {sorted(unknown)}; known: {', '.join(ROWS)}")
    checkouts = [Checkout("jug", a.checkout.resolve())]
    if a.baseline:
        checkouts.insert(0, Checkout("before", a.baseline.resolve()))
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; measured: "
          + ", ".join(f"{c.label}={c.path} via PYTHONPATH" for c in checkouts))
    print(f"installed jug: {install_kind()}; redis reply parser: {redis_parser()}; "
          f"python start-up {python_startup() * 1e3:.0f} ms "
          f"(median of 5); repeat {repeat}, {'quick' if a.quick else 'full'} sizes")
    work = Path(tempfile.mkdtemp(prefix="jugbench-", dir=a.tmp))
    t0 = time.perf_counter()
    try:
        rows = run_rows(wanted, sizes, checkouts, work, repeat)
        print_table(rows, [c.label for c in checkouts])
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_rows(wanted: list[str], sizes: Sizes, checkouts: list[Checkout], work: Path,
             repeat: int) -> list[Row]:
    """Measure each wanted row for every checkout, one row at a time (paired)."""
    makers = {
        "sleep": lambda c, w: bench_rows.scaling_sleep(c, w, sizes.sleep_tasks, 8),
        "tiny": lambda c, w: bench_rows.scaling_tiny(c, w, sizes.tiny_tasks, 2),
        "arrays": lambda c, w: bench_rows.arrays(c, w, sizes.arrays),
        "hash": lambda c, w: bench_rows.hashing(c, w, sizes.hash_tasks),
        "redis": lambda c, w: bench_rows.redis_rows(c, w, sizes.redis_tasks),
        "status": lambda c, w: bench_rows.status_rows(c, w, sizes.status_tasks),
        "fsync": lambda c, w: bench_rows.fsync(c, w, sizes.fsync_tasks),
        "overhead": lambda c, w: bench_rows.overhead(c, w, sizes.tiny_tasks),
        # jug execute -j K (issue 23), beside K separate processes
        "jobs": lambda c, w: bench_forked.speedups(c, w, sizes.sleep_tasks, sizes.tiny_tasks),
        "jobs-startup": lambda c, w: bench_forked.startup(c, w),
        "jobs-memory": lambda c, w: bench_forked.memory(c, w, sizes.graph_tasks),
        "resources": lambda c, w: bench_rows.resources(c, w, sizes.tiny_tasks),
    }
    rows: list[Row] = []
    for name in wanted:
        runs: dict[str, list[list[Row]]] = {c.label: [] for c in checkouts}
        for rep in range(repeat):
            # A B, then B A: the machine drifts within a row too (a disk slows down as files
            # come and go), so no checkout is always measured first
            for c in (checkouts if rep % 2 == 0 else checkouts[::-1]):
                folder = work / f"{name}-{c.label}-{rep}"
                folder.mkdir()
                t0 = time.perf_counter()
                runs[c.label].append(makers[name](c, folder))
                shutil.rmtree(folder, ignore_errors=True)
                print(f"  measured {name} for {c.label} ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr, flush=True)
        rows.extend(Row.merge([median_rows(runs[c.label]) for c in checkouts]))
    return rows


if __name__ == "__main__":
    sys.exit(main())
