"""The fault-injection suite's shared parts: a counted jugfile, worker pools, and the figures.

Every task of :data:`COUNTED` appends ``<index> <pid>`` to a log (O_APPEND) before working,
so the log says how often each task ran and in which process.  After a storm the suite
computes :class:`Figures` and asserts them: nothing lost, every value right, and every rerun
explained by an injected fault (its earlier run was in a process that was killed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from support import IN_CI, jug_env, write_jugfile

COUNTED = """
import os, time
from jug import TaskGenerator

LOG = {log!r}

@TaskGenerator
def work(i):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"%d %d\\n" % (i, os.getpid()))
    os.close(fd)
    if {sleep!r}:
        time.sleep({sleep!r})
    return i * i

xs = [work(i) for i in range({n})]
"""


def counted_jugfile(folder: Path, n: int, sleep: float = 0.0) -> tuple[Path, Path]:
    """Write the counted jugfile with ``n`` tasks; returns (jugfile, its execution log)."""
    log = folder / "executions.log"
    return write_jugfile(folder, COUNTED.format(log=str(log), n=n, sleep=sleep)), log


def executions(log: Path) -> list[tuple[int, int]]:
    """``[(task index, pid), ...]`` in the order the runs started."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        i, pid = line.split()
        out.append((int(i), int(pid)))
    return out


@dataclass
class Figures:
    """What one storm did and what it cost: printed, then asserted."""

    name: str
    tasks: int
    faults: int = 0  # kills, signals, restarts injected
    runs: int = 0
    reruns: int = 0  # runs beyond the first of a task
    explained: int = 0  # reruns whose earlier run was in a process hit by a fault
    duplicates: int = 0  # reruns nothing explains
    lost: int = 0  # tasks without a result at the end
    wrong: int = 0  # results with a wrong value
    corruptions: int = 0  # damaged results detected (and recomputed)
    extra: dict = field(default_factory=dict)

    def show(self) -> None:
        more = "".join(f", {k} {v}" for k, v in self.extra.items())
        print(f"\n[faults] {self.name}: tasks {self.tasks}, faults {self.faults}, runs {self.runs}, "
              f"reruns {self.reruns} (explained by faults {self.explained}), duplicates "
              f"{self.duplicates}, lost {self.lost}, wrong {self.wrong}, corruptions detected "
              f"{self.corruptions}{more}")

    def check(self) -> None:
        self.show()
        assert self.duplicates == 0, self
        assert self.lost == 0, self
        assert self.wrong == 0, self
        assert self.reruns == self.explained, self


def tally(fig: Figures, log: Path, hit_pids: set[int]) -> Figures:
    """Fill runs, reruns, explained and duplicates of ``fig`` from the execution log."""
    runs = executions(log)
    fig.runs = len(runs)
    by_task: dict[int, list[int]] = {}
    for i, pid in runs:
        by_task.setdefault(i, []).append(pid)
    for pids in by_task.values():
        for earlier in pids[:-1]:
            fig.reruns += 1
            if earlier in hit_pids:
                fig.explained += 1
            else:
                fig.duplicates += 1
    return fig


def check_values(fig: Figures, store, jugfile: Path) -> Figures:
    """Count lost and wrong results of the counted jugfile's tasks in ``store``."""
    from jug.jugfile import load

    loaded = load(str(jugfile), store)
    done = set(store.list())
    for t in loaded.tasks:
        h = t.hash()
        if h not in done:
            fig.lost += 1
            continue
        if store.load(h) != _expected(t):
            fig.wrong += 1
    return fig


def _expected(t) -> int:
    """The right value of a ``work(i)`` task (i * i) or of a ``plus(work(i))`` task."""
    if t.name.endswith(".plus"):
        return _expected(t.args[0]) + 1
    return t.args[0] * t.args[0]


class Pool:
    """``size`` workers on one jugfile, replaced when they exit, with faults injected."""

    def __init__(self, jugfile: Path, jugdir: str, size: int, args: tuple = ()) -> None:
        self.jugfile, self.jugdir, self.size, self.args = jugfile, jugdir, size, args
        self.live: list[subprocess.Popen] = []
        self.exits: Counter = Counter()
        self.hit: set[int] = set()  # pids that got a fault
        self.early: set[int] = set()  # ... before they had started a task
        self.codes: dict[int, int] = {}  # pid -> exit code
        self.stderr: list[str] = []

    def _start(self) -> None:
        """Start one worker; its stderr goes to a file (a pipe could fill up and block it)."""
        err = self.jugfile.parent / f"worker-{len(self.stderr) + len(self.live)}.err"
        with open(err, "w") as f:
            w = subprocess.Popen([sys.executable, "-m", "jug", "execute", str(self.jugfile),
                                  "--jugdir", self.jugdir, *self.args], env=jug_env(),
                                 stdout=subprocess.DEVNULL, stderr=f)
        w.err_path = err  # type: ignore[attr-defined]
        self.live.append(w)

    def reap(self, replace: bool) -> None:
        for w in list(self.live):
            if w.poll() is not None:
                self.live.remove(w)
                self.exits[w.returncode] += 1
                self.codes[w.pid] = w.returncode
                self.stderr.append(w.err_path.read_text())  # type: ignore[attr-defined]
        while replace and len(self.live) < self.size:
            self._start()

    def storm(self, faults: int, every: float, inject: Callable[[subprocess.Popen], None],
              rng: random.Random, log: Path, anywhere: float = 0.0) -> int:
        """Inject ``faults`` faults, one every ``every`` s (jittered), into random live workers
        that have started a task (per the execution ``log``): past start-up, mostly in a task.
        A share ``anywhere`` of the faults hits any live worker (start-up, loading, waiting)."""
        done = 0
        self.reap(replace=True)
        while done < faults:
            time.sleep(every * rng.uniform(0.5, 1.5))
            self.reap(replace=True)
            busy = {pid for _i, pid in executions(log)}
            wide = rng.random() < anywhere
            ready = [w for w in self.live if (wide or w.pid in busy) and w.pid not in self.hit]
            if not ready:
                continue
            victim = rng.choice(ready)
            if victim.poll() is None:
                self.hit.add(victim.pid)
                if victim.pid not in busy:
                    self.early.add(victim.pid)
                inject(victim)
                done += 1
        return done

    def drain(self, timeout: float = 240) -> None:
        """Wait for every worker to exit (no replacements)."""
        deadline = time.monotonic() + timeout
        while self.live and time.monotonic() < deadline:
            time.sleep(0.1)
            self.reap(replace=False)
        for w in self.live:
            w.kill()
        assert not self.live, "workers did not finish in time"


def kill9(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGKILL)


def sigterm(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGTERM)


def require_root() -> None:
    """Mounting a tmpfs needs root: skip locally, fail in CI."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the fault suite's disk tests need root (mount -t tmpfs)", pytrace=False)
        pytest.skip("needs root to mount a tmpfs")


def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                   check=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)
