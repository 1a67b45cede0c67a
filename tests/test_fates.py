"""Why a worker's job ended, read from each scheduler's accounting (issue 25): the parsers on
outputs recorded in the formats the schedulers document (sacct -P, qacct -j, qstat -x -f)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from jug.schedulers import get_scheduler
from jug.schedulers.fate import Cause, Fate, parse_size

DATA = Path(__file__).parent / "data_fates"
GIB = 1024 ** 3


def test_sacct_states_steps_arrays_and_missing_records() -> None:
    fates = get_scheduler("slurm").parse_fates((DATA / "sacct.txt").read_text())
    causes = {k: f.cause for k, f in fates.items()}
    assert causes == {
        "4101_0": Cause.COMPLETED, "4101_1": Cause.OUT_OF_MEMORY,
        "4101_2": Cause.OUT_OF_MEMORY,  # the allocation says FAILED, its step the truth
        "4101_3": Cause.WALLTIME, "4101_4": Cause.NODE_FAILURE, "4101_5": Cause.PREEMPTED,
        "4101_6": Cause.CANCELLED, "4101_7": Cause.CANCELLED, "4102": Cause.CANCELLED}
    # running elements, pending ranges and heterogeneous components are not fates
    assert "4101_8" not in fates and not any("[" in k or "+" in k for k in fates)
    oom = fates["4101_1"]
    assert oom.max_memory == 4089446 * 1024
    assert oom.describe() == "out of memory at ~3.9 GiB"
    assert fates["4101_6"].detail == "CANCELLED by 0"
    assert fates["4102"].max_memory == int(1.5 * GIB)
    assert fates["4101_4"].describe() == "node failure"


def test_sacct_is_one_query_for_all_elements() -> None:
    cmds = get_scheduler("slurm").fate_commands(["4101_1", "4101_7", "4102", "4101_3"])
    assert cmds[0][0] == "sacct" and cmds[0][-1] == "4101,4102"  # one sacct for all
    # the fallback without accounting: slurmctld's memory of recently ended jobs, per array
    assert cmds[1:] == [["scontrol", "show", "job", "-o", "4101"],
                        ["scontrol", "show", "job", "-o", "4102"]]


SCONTROL = (
    "JobId=137 ArrayJobId=135 ArrayTaskId=2 JobName=jug-work UserId=root(0) "
    "JobState=CANCELLED Reason=None Dependency=(null) ExitCode=0:15 RunTime=00:00:03\n"
    "JobId=136 ArrayJobId=135 ArrayTaskId=1 JobName=jug-work JobState=OUT_OF_MEMORY "
    "Reason=OutOfMemory ExitCode=0:125\n"
    "JobId=135 ArrayJobId=135 ArrayTaskId=3-9%2 JobName=jug-work JobState=PENDING\n"
    "JobId=140 JobName=solo JobState=NODE_FAIL Reason=NodeDown ExitCode=0:0\n")


def test_scontrol_fallback_without_accounting() -> None:
    fates = get_scheduler("slurm").parse_fates(SCONTROL)
    assert {k: f.cause for k, f in fates.items()} == {
        "135_2": Cause.CANCELLED, "135_1": Cause.OUT_OF_MEMORY, "140": Cause.NODE_FAILURE}


def test_qacct_codes_limits_and_non_array_jobs() -> None:
    sge = get_scheduler("sge")
    fates = sge.parse_fates((DATA / "qacct.txt").read_text())
    assert {k: f.cause for k, f in fates.items()} == {
        "41.1": Cause.COMPLETED, "41.2": Cause.OUT_OF_MEMORY, "41.3": Cause.WALLTIME,
        "41.4": Cause.CANCELLED, "41.5": Cause.NODE_FAILURE, "42": Cause.FAILED}
    assert fates["41.2"].max_memory == int(199.5 * 1024 ** 2)
    assert "failed 100" in fates["41.4"].detail
    assert sge.fate_commands(["41.2", "41.4", "43.1"]) == [["qacct", "-j", "41"],
                                                           ["qacct", "-j", "43"]]


def test_qstat_history_exit_statuses() -> None:
    fates = get_scheduler("pbs").parse_fates((DATA / "qstat_xf.txt").read_text())
    assert {k: f.cause for k, f in fates.items()} == {
        "501[0].pbs1": Cause.COMPLETED, "501[1].pbs1": Cause.OUT_OF_MEMORY,
        "501[2].pbs1": Cause.WALLTIME, "501[3].pbs1": Cause.CANCELLED,
        "501[4].pbs1": Cause.NODE_FAILURE, "502.pbs1": Cause.FAILED}
    assert "finished" in fates["501[1].pbs1"].detail  # a continued line joined
    assert fates["501[1].pbs1"].max_memory == 4190000 * 1024


def test_only_deaths_a_task_could_cause_count() -> None:
    assert not any(c.could_be_the_task for c in (Cause.PREEMPTED, Cause.NODE_FAILURE,
                                                 Cause.CANCELLED))
    assert all(c.could_be_the_task for c in (Cause.OUT_OF_MEMORY, Cause.WALLTIME,
                                             Cause.FAILED))


@given(st.sampled_from(list(Cause)), st.text(max_size=30),
       st.one_of(st.none(), st.integers(0, 2 ** 50)))
def test_fate_json_round_trip(cause: Cause, detail: str, mem: int | None) -> None:
    f = Fate(cause, detail, mem)
    assert Fate.from_json(f.as_json()) == f


@given(st.integers(0, 10 ** 6), st.sampled_from(["K", "M", "G", "KB", "MB", "kb", "mb", "gb"]))
def test_sizes_of_every_format(n: int, unit: str) -> None:
    assert parse_size(f"{n}{unit}") == n * 1024 ** ("KMG".index(unit[0].upper()) + 1)
    assert parse_size("garbage") is None and parse_size("") is None


def test_crash_loop_counts_only_deaths_the_task_could_cause() -> None:
    from jug.backends.dict_store import DictStore
    from jug.state.crashloop import LIMIT, NAMESPACE, note_reclaim

    store = DictStore()
    owner = {"host": "n1", "pid": 1, "job": {"scheduler": "slurm", "queue_id": "7_1"}}
    for cause in (Cause.PREEMPTED, Cause.NODE_FAILURE, Cause.CANCELLED) * 2:
        got = note_reclaim(store, "k", "t", owner, "job gone", Fate(cause, cause.name))
        assert not got.counted and not got.failed
    doc = store.read_docs(NAMESPACE)["k"]
    assert doc["count"] == 0 and doc["not_counted"] == 6
    assert doc["events"][-1]["fate"]["text"] == "cancelled"
    oom = Fate(Cause.OUT_OF_MEMORY, "OUT_OF_MEMORY", 4 * GIB)
    results = [note_reclaim(store, "k", "t", owner, "job gone", oom) for _ in range(LIMIT)]
    assert [r.failed for r in results] == [False] * (LIMIT - 1) + [True]
    mark = store.list_failed()["k"]
    assert "out of memory at ~4.0 GiB" in mark["error"]


class _T:
    """A task as death_rows reads it: a hash and a name."""

    def __init__(self, h: str, name: str) -> None:
        self.h, self.name = h, name

    def hash(self) -> str:
        return self.h


def test_status_says_does_not_fit_the_walltime_and_needs_more_memory() -> None:
    from jug.backends.dict_store import DictStore
    from jug.state.crashloop import note_reclaim
    from jug.state.deaths import death_rows
    from jug.status.resources import death_lines

    store = DictStore()
    wall = Fate(Cause.WALLTIME, "TIMEOUT")
    for _ in range(2):
        note_reclaim(store, "slow", "wf.slow", None, "job gone", wall)
    note_reclaim(store, "big", "wf.big", None, "job gone",
                 Fate(Cause.OUT_OF_MEMORY, "OUT_OF_MEMORY", int(3.9 * GIB)))
    note_reclaim(store, "done", "wf.done", None, "job gone", wall)
    tasks = [_T("slow", "wf.slow"), _T("big", "wf.big"), _T("done", "wf.done")]
    rows = death_rows(store, {}, {}, tasks, finished={"done"})
    by = {r["task"]: r for r in rows}
    assert set(by) == {"wf.slow", "wf.big"}  # a finished task has no death to show
    assert by["wf.slow"]["why"] == "does not fit the walltime (stopped by it 2 times)"
    lines = death_lines({"deaths": rows, "pools": {"wf.big": "small"}})
    big = next(line for line in lines if "wf.big" in line)
    assert "out of memory at ~3.9 GiB: needs more memory than pool small has" in big
    assert "1 death(s) counted towards a crash loop" in big
