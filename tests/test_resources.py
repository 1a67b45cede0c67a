"""What each task used (issue 25): CPU time and peak memory per run, ``jug status --resources``."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support import run_jug, write_jugfile

from jug.state.timings import TimingRecorder
from jug.state.usage import Usage, format_bytes, resource_table

MIB = 1024 * 1024

JUGFILE = """
import time
from jug import TaskGenerator

@TaskGenerator
def big(i):
    x = bytearray(300 * 1024 * 1024)
    for j in range(0, len(x), 4096):
        x[j] = 1          # touch every page: resident, not only reserved
    return len(x)

@TaskGenerator
def nap(i):
    time.sleep(0.4)
    return i

@TaskGenerator
def small(i):
    return i

a = [big(i) for i in range(2)]
b = [nap(i) for i in range(2)]
c = [small(i) for i in range(3)]
"""


def test_peak_memory_and_cpu_efficiency_of_real_tasks(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, JUGFILE)
    run_jug("execute", jf, check=True)
    res = json.loads(run_jug("status", "--json", jf, check=True).stdout)["resources"]
    big, nap, small = res["jugfile.big"], res["jugfile.nap"], res["jugfile.small"]
    assert big["runs"] == 2
    assert 300 * MIB <= big["peak_max_bytes"] <= 400 * MIB
    assert 300 * MIB <= big["peak_median_bytes"] <= 400 * MIB
    # the high-water mark is reset before each task: the small tasks after big do not
    # inherit its 300 MB
    assert small["peak_max_bytes"] < 150 * MIB
    assert nap["cpu_efficiency"] is not None and nap["cpu_efficiency"] < 0.1
    assert 0.39 < nap["wall_median"] <= nap["wall_max"] < 5
    table = run_jug("status", "--resources", jf, check=True).stdout
    row = next(line for line in table.splitlines() if line.startswith("jugfile.big"))
    assert "MiB" in row and row.split()[1] == "2"
    assert "CPU eff" in table.splitlines()[0]


def test_status_resources_before_any_run(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, JUGFILE)
    out = run_jug("status", "--resources", jf, check=True).stdout
    assert "No task has run yet" in out


class _Docs:
    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    def write_doc(self, ns: str, key: str, doc: dict) -> None:
        self.docs[key] = json.loads(json.dumps(doc))  # what a store keeps: JSON


def test_records_merge_across_workers_and_old_documents() -> None:
    store = _Docs()
    for i, (wall, cpu, peak) in enumerate(((1.0, 0.5, 100), (3.0, 1.5, 300), (2.0, 1.0, 200))):
        rec = TimingRecorder(store)
        rec.name = f"worker{i}"  # three workers (one process here, so name them apart)
        rec.add("t", wall, Usage(wall, cpu, peak))
        rec.flush()
    store.docs["old"] = {"tasks": {"t": {"count": 1, "total": 10.0, "recent": [10.0]}}}
    r = resource_table(store.docs)["t"]
    assert r.runs == 4
    assert r.wall_max == 10.0 and r.wall_median == 2.5
    assert abs(r.cpu_efficiency - 0.5) < 1e-9  # the old document has no CPU: not counted
    assert r.peak_median_kib == 200 and r.peak_max_kib == 300


@given(st.lists(st.tuples(st.floats(0.001, 1e4), st.floats(0, 1e4), st.integers(1, 2 ** 40)),
                min_size=1, max_size=60))
def test_record_stays_bounded_and_max_is_exact(runs: list) -> None:
    store = _Docs()
    rec = TimingRecorder(store)
    for wall, cpu, peak in runs:
        rec.add("t", wall, Usage(wall, cpu, peak))
    rec.flush()
    d = store.docs[rec.name]["tasks"]["t"]
    assert len(d["mem"]) == len(d["recent"]) <= 20
    r = resource_table(store.docs)["t"]
    assert r.peak_max_kib == max(p for _, _, p in runs)
    assert abs(r.wall_max - max(w for w, _, _ in runs)) < 1e-5


def test_format_bytes() -> None:
    assert format_bytes(None) == "-"
    assert format_bytes(3.1 * 1024 ** 3) == "3.1 GiB"
    assert format_bytes(512 * MIB) == "512 MiB"
    assert format_bytes(12) == "12 B"
