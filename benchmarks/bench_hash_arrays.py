"""Hashing large list arguments and saving large arrays, each beside its physical floor.

Two rows of the performance table (issue 13), measured in one process with paired, interleaved
runs (the machine's speed drifts; ratios to a floor measured moments apart hold):

* hashing a task whose argument is a fresh list of 1,000,000 ints, against pickle + SHA-1 of
  the same list (what any content hash must at least cost); also the per-task cost when many
  tasks share one list (scanned once per bulk pass);
* saving 20 arrays of 16 MiB in the file store, against ``np.save`` + ``fsync`` and plain
  ``np.save`` into files in the same folder; with and without ``JUG_FSYNC=1``.

    python benchmarks/bench_hash_arrays.py [--quick] [--dir FOLDER]

``--dir`` must be on the disk to measure (the default is the system temp folder; /dev/shm
measures memory instead).  ``rows()`` returns the figures for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Row:
    """One table row: jug's figure, the floor measured in the same run, and their ratio."""

    work: str
    jug: float  # seconds
    floor: float  # seconds
    floor_name: str
    target: float | None = None  # ratio to reach, if the issue sets one

    @property
    def ratio(self) -> float:
        return self.jug / self.floor


def _paired(jug: Callable[[], None], floor: Callable[[], None], repeat: int,
            prepare: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """Median seconds of ``jug()`` and ``floor()``, run alternately ``repeat`` times each
    (``prepare()`` before each run, untimed)."""
    a, b = [], []
    for _ in range(repeat):
        for fn, out in ((floor, b), (jug, a)):
            prepare()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def hash_rows(quick: bool) -> list[Row]:
    """Hashing a task with a 1e6-int list argument, fresh and shared, against pickle + SHA-1."""
    from jug.hash import hash_session
    from jug.task import Task, alltasks

    def work(x: list, i: int = 0) -> int:
        return i

    big = list(range(1_000_000))
    copies = [list(big) for _ in range(3 if quick else 9)]  # fresh objects: no cache helps

    def one_fresh() -> None:
        Task(work, copies.pop() if copies else list(big)).hash()

    def floor() -> None:
        hashlib.sha1(pickle.dumps(big, protocol=4)).hexdigest()

    repeat = 3 if quick else 9
    fresh, fl = _paired(one_fresh, floor, repeat)
    n = 10 if quick else 50

    def shared() -> None:
        tasks = [Task(work, big, i) for i in range(n)]
        with hash_session():
            for t in tasks:
                t.hash()

    per_shared = _paired(shared, floor, 3)[0] / n
    alltasks.clear()
    return [Row("hash a task with a fresh 1e6-int list", fresh, fl, "pickle+sha1", 2.0),
            Row(f"same, list shared by {n} tasks (per task)", per_shared, fl, "pickle+sha1")]


def _np_save(folder: Path, arrays: list, fsync: bool) -> None:
    import numpy as np

    for i, a in enumerate(arrays):
        with open(folder / f"floor{i}.npy", "wb") as f:
            np.save(f, a, allow_pickle=False)
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def _jug_save(folder: Path, arrays: list, fsync: bool) -> None:
    from jug.backends.file_store import FileStore

    old = os.environ.get("JUG_FSYNC")
    os.environ["JUG_FSYNC"] = "1" if fsync else "0"
    try:
        store = FileStore(str(folder / "jugdata"))
    finally:
        if old is None:
            del os.environ["JUG_FSYNC"]
        else:
            os.environ["JUG_FSYNC"] = old
    for i, a in enumerate(arrays):
        store.save(hashlib.sha1(b"%d" % i).hexdigest(), a)


def array_rows(quick: bool, base: Path) -> list[Row]:
    """20 arrays of 16 MiB saved by the file store, against np.save (+ fsync)."""
    import numpy as np

    count = 5 if quick else 20
    rng = np.random.default_rng(0)
    arrays = [rng.random((16 << 20) // 8) for _ in range(count)]
    work = Path(tempfile.mkdtemp(prefix="jugbench-arrays-", dir=base))

    def prepare() -> None:
        """Remove the files of the previous run but keep the folders (a store in use has its
        result folders), then flush: no run pays for the previous one's dirty pages."""
        (work / "run").mkdir(exist_ok=True)
        for root, _dirs, files in os.walk(work / "run"):
            for name in files:
                os.unlink(os.path.join(root, name))
        os.sync()

    def run(fn: Callable[[Path, list, bool], None], fsync: bool) -> Callable[[], None]:
        return lambda: fn(work / "run", arrays, fsync)

    try:
        repeat = 2 if quick else 5
        jug_fsync, floor_fsync = _paired(run(_jug_save, True), run(_np_save, True), repeat, prepare)
        jug_plain, floor_plain = _paired(run(_jug_save, False), run(_np_save, False), repeat,
                                         prepare)
        prepare()
        _jug_save(work / "run", arrays, False)
        _np_save(work / "run", arrays, False)
        jug_read, floor_read = _paired(lambda: _jug_load(work / "run", count),
                                       lambda: _np_load(work / "run", count), repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    label = f"{count} arrays of 16 MiB written"
    return [Row(f"{label} (default: no fsync)", jug_plain, floor_fsync, "np.save+fsync", 1.15),
            Row(f"{label}, JUG_FSYNC=1", jug_fsync, floor_fsync, "np.save+fsync"),
            Row(f"{label} (default: no fsync)", jug_plain, floor_plain, "np.save"),
            Row(f"{count} arrays of 16 MiB read (page cache)", jug_read, floor_read, "np.load")]


def _jug_load(folder: Path, count: int) -> None:
    from jug.backends.file_store import FileStore

    store = FileStore(str(folder / "jugdata"))
    for i in range(count):
        store.load(hashlib.sha1(b"%d" % i).hexdigest())


def _np_load(folder: Path, count: int) -> None:
    import numpy as np

    for i in range(count):
        np.load(folder / f"floor{i}.npy")


def rows(quick: bool = False, base: Path | None = None) -> list[Row]:
    """Every row of this benchmark."""
    return hash_rows(quick) + array_rows(quick, base or Path(tempfile.gettempdir()))


def print_rows(table: list[Row]) -> None:
    print(f"{'work':52s} {'jug':>9s} {'floor':>9s}  {'floor is':14s} {'ratio':>6s}  target")
    for r in table:
        target = f"<= {r.target:g}x" if r.target else ""
        print(f"{r.work:52s} {r.jug * 1e3:7.1f}ms {r.floor * 1e3:7.1f}ms  {r.floor_name:14s} "
              f"{r.ratio:5.2f}x  {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    ap.add_argument("--dir", type=Path, default=None, help="folder on the disk to measure")
    a = ap.parse_args()
    print_rows(rows(a.quick, a.dir))


if __name__ == "__main__":
    main()
