"""Many tiny tasks: per-task overhead of ``jug execute``, ``jug status`` time, start-up, memory.

Each figure is printed beside a physical floor measured in the same run on the same disk:
creating + renaming a small file (what saving one result must at least cost).

    python benchmarks/bench_tiny.py [--n 20000] [--dirs /tmp /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

JUGFILE = """
import os
from jug import TaskGenerator

@TaskGenerator
def square(i):
    return i * i

N = int(os.environ["BENCH_N"])
results = [square(i) for i in range(N)]
"""

# Runs jug in-process and reports its own peak memory (KiB) on stderr's last line.
RUNNER = """
import sys
from jug.cli import main
rc = main(sys.argv[1:])
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
print("maxrss_kib", hwm, file=sys.stderr)
sys.exit(rc)
"""


def run(args: list[str], n: int, cwd: Path) -> tuple[float, int, str]:
    """Run jug with ``args`` on an ``n``-task jugfile; (seconds, peak KiB, stdout)."""
    env = dict(os.environ, BENCH_N=str(n), PYTHONPATH=str(ROOT))
    env.pop("JUG_EXIT_IF_FILE_EXISTS", None)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=cwd, env=env,
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"jug {' '.join(args)} failed:\n{p.stderr}")
    rss = int(p.stderr.strip().splitlines()[-1].split()[1])
    return dt, rss, p.stdout


def file_floor(folder: Path, count: int = 5000) -> float:
    """Seconds to create, write and rename one small file (the floor of saving a result)."""
    d = folder / "floor"
    d.mkdir()
    payload = b"x" * 40
    t0 = time.perf_counter()
    for i in range(count):
        tmp = d / f".tmp{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, payload)
        os.close(fd)
        os.rename(tmp, d / f"r{i}")
    dt = (time.perf_counter() - t0) / count
    shutil.rmtree(d)
    return dt


def hash_million() -> float:
    """Seconds to hash a list of a million ints."""
    sys.path.insert(0, str(ROOT))
    from jug.hash import hash_one

    big = list(range(1_000_000))
    t0 = time.perf_counter()
    hash_one(big)
    return time.perf_counter() - t0


def bench_dir(base: Path, n: int) -> None:
    """All figures for one filesystem."""
    work = Path(tempfile.mkdtemp(prefix="jugbench-", dir=base))
    try:
        (work / "bench.py").write_text(JUGFILE)
        floor = file_floor(work)
        one, _, _ = run(["execute", "bench.py", "--jugdir", str(work / "one.jugdata")], 1, work)
        t_exec, rss_exec, _ = run(["execute", "bench.py", "--jugdir", str(work / "n.jugdata")], n, work)
        small = max(n // 10, 1)
        _, rss_small, _ = run(["execute", "bench.py", "--jugdir", str(work / "s.jugdata")], small, work)
        s1, _, _ = run(["status", "--short", "bench.py", "--jugdir", str(work / "one.jugdata")], 1, work)
        t_status, _, out = run(["status", "--short", "bench.py", "--jugdir", str(work / "n.jugdata")], n, work)
        assert f"{n} finished" in out, out
        per_task = (t_exec - one) / n
        per_status = (t_status - s1) / n
        print(f"\n== {base} ({n} tasks) ==")
        print(f"floor: create+write+rename small file   {floor * 1e6:8.1f} us")
        print(f"execute overhead per task               {per_task * 1e6:8.1f} us  "
              f"({per_task / floor:.1f}x floor; throughput {n / t_exec:,.0f} tasks/s)")
        print(f"status time per task (all finished)     {per_status * 1e6:8.1f} us  "
              f"(total {t_status:.2f} s)")
        print(f"start-up of a 1-task execute            {one * 1e3:8.1f} ms")
        print(f"worker peak RSS: {small} tasks {rss_small / 1024:.1f} MiB, {n} tasks "
              f"{rss_exec / 1024:.1f} MiB ({(rss_exec - rss_small) * 1024 / (n - small):.0f} B/task)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="number of tiny tasks")
    ap.add_argument("--dirs", nargs="*", default=None,
                    help="filesystems to measure (default: the temp dir and /dev/shm)")
    a = ap.parse_args()
    dirs = a.dirs or [tempfile.gettempdir()] + (["/dev/shm"] if os.path.isdir("/dev/shm") else [])
    print(f"hash of a list of 1,000,000 ints: {hash_million() * 1e3:.1f} ms")
    for d in dirs:
        bench_dir(Path(d), a.n)


if __name__ == "__main__":
    main()
