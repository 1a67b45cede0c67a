"""Start-up of ``jug status``: piped (plain text) and on a terminal (rich), vs a baseline.

The terminal rendering imports rich; piped output must not pay for it.  Prints the best of
``--repeat`` runs of each mode, beside the same measurement of a baseline checkout (e.g. the
commit before the progress display: ``git archive 972ee06 | tar -x -C /tmp/base``).

    python benchmarks/bench_status_startup.py [--baseline /tmp/base] [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def square(i):
    return i * i

results = [square(i) for i in range(100)]
"""


def once(checkout: Path, jugfile: Path, args: list[str], terminal: bool) -> float:
    """CPU seconds (user + system) of one ``python -m jug status ARGS jugfile`` (stdout a pty
    if ``terminal``): on a shared machine, wall-clock time mostly measures the neighbours."""
    env = dict(os.environ, PYTHONPATH=str(checkout), JUG_CONFIG=os.devnull)
    env.pop("NO_COLOR", None)
    cmd = [sys.executable, "-m", "jug", "status", *args, str(jugfile)]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if terminal:
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=env)
        os.close(slave)
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        p.wait()
        os.close(master)
    else:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def best(checkout: Path, jugfile: Path, args: list[str], terminal: bool, repeat: int) -> float:
    return min(once(checkout, jugfile, args, terminal) for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="another checkout to compare with")
    ap.add_argument("--repeat", type=int, default=15)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jf = Path(tmp) / "jugfile.py"
        jf.write_text(JUGFILE)
        modes = [("piped table", [], False), ("piped --short", ["--short"], False),
                 ("terminal table (rich)", [], True)]
        title = f"jug status start-up, CPU (best of {opts.repeat})"
        print(f"{title:<34}{'this':>9}"
              + (f"{'baseline':>10}{'diff':>9}" if opts.baseline else ""))
        for label, args, term in modes:
            mine = best(ROOT, jf, args, term, opts.repeat)
            line = f"{label:<34}{mine * 1000:>7.0f}ms"
            if opts.baseline:
                base = best(opts.baseline, jf, args, term, opts.repeat)
                line += f"{base * 1000:>8.0f}ms{(mine - base) * 1000:>+7.0f}ms"
            print(line, flush=True)


if __name__ == "__main__":
    main()
