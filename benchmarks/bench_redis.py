"""Many tiny tasks on the Redis store: per-task overhead of ``jug execute`` and ``jug status``.

Writes a jugfile of N tasks ``i*i`` into a temporary folder and times
``python -m jug execute jugfile.py --jugdir redis://...`` against the same command on a
1-task jugfile, so interpreter start-up and jugfile loading cancel out::

    per-task overhead = (wall(N tasks) - wall(1 task)) / N

``jug status`` is timed the same way on the finished store.  A SET+GET round trip measured in
the same run (same server, same machine) puts the figures in proportion, and the server's
command counter gives the Redis commands each task costs.  The file store is measured beside
it for comparison (``--no-file`` to skip).

Usage: ``python benchmarks/bench_redis.py [--n 2000] [--url redis://host:port/db]``
(without ``--url`` a throwaway redis-server is started on a free loopback port).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def square(i):
    return i * i

results = [square(i) for i in range({n})]
"""


def start_server(workdir: str) -> tuple[subprocess.Popen, int]:
    """Start a throwaway redis-server on a free loopback port; returns (process, port)."""
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server not found (apt-get install -y redis-server), or pass --url")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--daemonize", "no",
                             "--pidfile", os.path.join(workdir, "redis.pid"), "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("redis-server did not start")


def jug(*args: str, cwd: str) -> float:
    """Run ``python -m jug ARGS`` and return its wall time in seconds (exits on failure)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "jug", *args], cwd=cwd, env=env,
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"jug {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return elapsed


def set_get_samples(client, repeat: int = 2000) -> list[float]:
    """Microseconds of ``repeat`` SET-then-GET round trips of a small value."""
    samples = []
    for i in range(repeat):
        t0 = time.perf_counter()
        client.set("bench:rt", i)
        client.get("bench:rt")
        samples.append((time.perf_counter() - t0) * 1e6)
    client.delete("bench:rt")
    return samples


def measure(jugdir_for: callable, reset: callable, n: int, folder: str,
            repeat: int = 3) -> dict[str, float]:
    """Per-task execute and status overhead (seconds) for one backend; best of ``repeat``."""
    one = os.path.join(folder, "one.py")
    many = os.path.join(folder, "many.py")
    Path(one).write_text(textwrap.dedent(JUGFILE.format(n=1)))
    Path(many).write_text(textwrap.dedent(JUGFILE.format(n=n)))
    r: dict[str, list[float]] = {k: [] for k in ("exec_1", "exec_n", "status_1", "status_n",
                                                  "cmds")}
    for _ in range(repeat):  # a shared machine is noisy: keep the best of a few runs
        reset()
        r["exec_1"].append(jug("execute", one, "--jugdir", jugdir_for("one"), cwd=folder))
        r["status_1"].append(jug("status", one, "--jugdir", jugdir_for("one"), cwd=folder))
        reset()
        before = commands()
        r["exec_n"].append(jug("execute", many, "--jugdir", jugdir_for("many"), cwd=folder))
        r["cmds"].append((commands() - before) / n)
        r["status_n"].append(jug("status", many, "--jugdir", jugdir_for("many"), cwd=folder))
    best = {k: min(v) for k, v in r.items()}
    best["exec_task"] = (best["exec_n"] - best["exec_1"]) / n
    best["status_task"] = (best["status_n"] - best["status_1"]) / n
    return best


_client = None


def commands() -> int:
    """The Redis server's total_commands_processed counter (0 without a client)."""
    return int(_client.info("stats")["total_commands_processed"]) if _client is not None else 0


def main() -> None:
    """Run the benchmark and print the table."""
    global _client
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="number of tiny tasks (default 2000)")
    ap.add_argument("--url", help="use this Redis instead of starting one (its db is FLUSHED)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    ap.add_argument("--no-file", action="store_true", help="skip the file store comparison")
    args = ap.parse_args()
    import redis

    folder = tempfile.mkdtemp(prefix="jug-bench-redis-")
    server = None
    try:
        if args.url:
            url = args.url
        else:
            server, port = start_server(folder)
            url = f"redis://127.0.0.1:{port}/0"
        _client = redis.Redis.from_url(url)
        before = set_get_samples(_client)
        rows = [("redis", measure(lambda _name: url, _client.flushdb, args.n, folder, args.repeat))]
        if not args.no_file:
            c, _client = _client, None

            def reset_files() -> None:
                for name in ("one", "many"):
                    shutil.rmtree(os.path.join(folder, name + ".jugdata"), ignore_errors=True)

            rows.append(("file", measure(lambda name: os.path.join(folder, name + ".jugdata"),
                                         reset_files, args.n, folder, args.repeat)))
            _client = c
        after = set_get_samples(_client)
    finally:
        if _client is not None:
            _client.close()
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"jug many-tiny-tasks benchmark: N = {args.n} tasks of i*i, python "
          f"{sys.version.split()[0]}, best of {args.repeat} runs")
    rt = statistics.median(before + after)
    print(f"Redis SET+GET round trip, same run: median {rt:.0f} us (before the jug runs "
          f"{statistics.median(before):.0f} us, after {statistics.median(after):.0f} us)")
    print()
    head = (f"{'store':<7}{'execute 1':>11}{'execute N':>11}{'us/task':>9}{'RTs/task':>10}"
            f"{'cmds/task':>11}{'status N':>10}{'us/task':>9}")
    print(head)
    print("-" * len(head))
    for name, r in rows:
        per = r["exec_task"] * 1e6
        rts = f"{per / rt:.1f}" if name == "redis" else "-"
        cmds = f"{r['cmds']:.1f}" if name == "redis" else "-"
        print(f"{name:<7}{r['exec_1']:>10.2f}s{r['exec_n']:>10.2f}s{per:>9.0f}{rts:>10}{cmds:>11}"
              f"{r['status_n']:>9.2f}s{r['status_task'] * 1e6:>9.1f}")
    print()
    print("us/task: (wall(N) - wall(1)) / N.  RTs/task: execute overhead per task in units of "
          "one SET+GET round trip.  cmds/task: Redis commands the server processed per task.")


if __name__ == "__main__":
    main()
