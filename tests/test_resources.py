"""What each task used (issue 25): CPU time and peak memory per run, ``jug status --resources``."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support import run_jug, write_jugfile

from jug.hpc.job import parse_memory
from jug.hpc.rightsize import mem_option, pool_uses, suggestion
from jug.state.membership import Pool
from jug.state.timings import TimingRecorder
from jug.state.usage import TaskResources, Usage, format_bytes, resource_table

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


# -- right-sizing (jug submit --report) ------------------------------------------------------
GIB = 1024 ** 3


def _res(name: str, peak_gib: float, wall_max: float, cpu: float, wall: float) -> TaskResources:
    kib = int(peak_gib * GIB / 1024)
    return TaskResources(name, 3, wall_max / 2, wall_max, cpu / wall, kib, kib, cpu, wall)


def test_rightsizing_suggests_one_line_per_pool() -> None:
    pools = [Pool("train", ("train",), settings={"mem": "16G", "cpus_per_task": 4})]
    table = {"wf.train": _res("wf.train", 3.1, 600, cpu=90, wall=100),
             "wf.prep": _res("wf.prep", 0.2, 3000, cpu=1, wall=100)}
    uses = {u.pool: u for u in pool_uses(table, pools, {"walltime": "01:00:00", "mem": "1G"})}
    train, default = uses["train"], uses["default"]
    line = suggestion(train)
    assert line.startswith("train: peak 3.1 GiB of 16 GiB asked")
    assert "--mem 4G would do" in line and "--cpus 1 would do" in line
    assert "0.9 of 4 CPUs busy" in line
    # 3000 s of a 3600 s walltime is fine (no walltime advice); 205 MiB of 1 GiB asked: less
    assert suggestion(default) == ("default: peak 205 MiB of 1.0 GiB asked, longest task 50m00s "
                                   "of 1h00m walltime, 0.0 of 1 CPU busy: --mem 300M would do")
    tight = pool_uses({"wf.x": _res("wf.x", 0.95, 3500, 1, 1)}, [], {"walltime": "1:00:00",
                                                                   "mem": "1G"})[0]
    s = suggestion(tight)
    assert "--mem 2G would do" in s and "--walltime 1h56m or more" in s


@given(st.floats(1e6, 1e13))
def test_suggested_memory_always_covers_the_peak(peak: float) -> None:
    want = parse_memory(mem_option(int(peak))) * 1024 * 1024
    assert peak * 1.25 <= want <= max(peak * 1.25 + 100 * 1024 ** 2, peak * 1.25 * 2)


def test_submit_report_prints_rightsizing(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, JUGFILE)
    (tmp_path / "jug-submit.yaml").write_text(
        "mem: 8G\npools:\n  big: {tasks: [big], mem: 16G, cpus: 2}\n")
    env = {"JUG_SUBMIT_CONFIG": "/nonexistent.yaml"}
    run_jug("execute", jf, cwd=tmp_path, env=env, check=True)
    rep = run_jug("submit", "--report", jf, cwd=tmp_path, env=env, check=True).stdout
    big = next(line for line in rep.splitlines() if line.startswith("big: peak"))
    assert "of 16 GiB asked" in big and "--mem 500M would do" in big
    assert "of 2 CPUs busy" in big
    default = next(line for line in rep.splitlines() if line.startswith("default: peak"))
    assert "of 8.0 GiB asked" in default


def test_webstatus_shows_the_resources_table(tmp_path: Path) -> None:
    from jug.backends import select_store
    from jug.status.webcharts import collect, render

    jf = write_jugfile(tmp_path, JUGFILE)
    run_jug("execute", jf, check=True)
    summary = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    html = render(collect(select_store(str(tmp_path / "jugfile.jugdata")), summary))
    section = html.split('id="resources"')[1]
    assert "What each task used" in section and "<th>CPU eff</th>" in section
    assert "<td>jugfile.big</td><td>2</td>" in section and "MiB</td>" in section
