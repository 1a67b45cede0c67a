"""Unit tests of the scheduler adapters: parsing recorded real outputs, formats, splitting."""

from __future__ import annotations

import pytest
from support import FAKEPBS, HPC

from jug.hpc.job import SubmitError, default_margin, parse_duration, parse_memory
from jug.schedulers import PENDING, RUNNING, SchedulerError, get_scheduler
from jug.schedulers.base import expand_indices, split_sizes

DATA = HPC / "data"
REC = FAKEPBS / "recorded"


@pytest.mark.parametrize("text,seconds", [
    ("04:00:00", 4 * 3600), ("1-02:03:04", 93784), ("00:30", 30), ("30:00", 1800),
    ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("2d", 172800), ("1d12h", 36 * 3600),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["4 hours", "1:2:3:4", "00:61:00", "abc", "", "-5m", "1h30",
                                  "1-12", "2-00:00"])
def test_parse_duration_rejects_malformed(text: str) -> None:
    with pytest.raises(SubmitError, match="malformed"):
        parse_duration(text, "walltime")


def test_bare_number_is_seconds_for_margin_but_an_error_for_walltime() -> None:
    assert parse_duration("300", "margin") == 300
    with pytest.raises(SubmitError, match="MM:SS, HH:MM:SS, D-HH:MM:SS"):
        parse_duration("60", "walltime", bare_seconds=False)


@pytest.mark.parametrize("text,mb", [("4G", 4096), ("4GB", 4096), ("500M", 500), ("1.5g", 1536),
                                     ("2048", 2048), ("1T", 1048576), ("4GiB", 4096)])
def test_parse_memory(text: str, mb: int) -> None:
    assert parse_memory(text) == mb


def test_parse_memory_rejects_garbage() -> None:
    with pytest.raises(SubmitError, match="memory"):
        parse_memory("lots")


def test_default_margin_is_max_of_five_minutes_and_ten_percent() -> None:
    assert default_margin(3600) == 360
    assert default_margin(1800) == 300
    assert default_margin(10 * 3600) == 3600


def test_formats_per_scheduler() -> None:
    slurm, pbs, sge = (get_scheduler(n) for n in ("slurm", "pbs", "sge"))
    assert slurm.format_walltime(93784) == "1-02:03:04"
    assert slurm.format_walltime(3600) == "01:00:00"
    assert pbs.format_walltime(93784) == "26:03:04"
    assert sge.format_walltime(59) == "00:00:59"
    assert slurm.format_memory(4096) == "4G" and slurm.format_memory(1500) == "1500M"
    assert pbs.format_memory(4096) == "4gb" and pbs.format_memory(1500) == "1500mb"
    assert slurm.array_spec(64, 8) == "0-63%8"
    assert sge.array_spec(64, 8) == "1-64"  # SGE throttles with -tc, indices from 1
    assert get_scheduler("torque").array_spec(3) == "0-2"


def test_unknown_scheduler() -> None:
    with pytest.raises(SchedulerError, match="unknown scheduler 'moab'.*slurm.*lsf, htcondor"):
        get_scheduler("moab")


def test_expand_indices_and_split() -> None:
    assert expand_indices("[2-5%3]") == [2, 3, 4, 5]
    assert expand_indices("3-9:2,12") == [3, 5, 7, 9, 12]
    assert split_sizes(2500, 1001) == [1001, 1001, 498]
    assert split_sizes(10, None) == [10]
    assert split_sizes(0, 10) == []  # the loop may have nothing to submit
    with pytest.raises(ValueError):
        get_scheduler("slurm").split(0)


# -- submit output --------------------------------------------------------------------------
def test_slurm_submit_output() -> None:
    s = get_scheduler("slurm")
    assert s.parse_submit_output("12345\n") == "12345"
    assert s.parse_submit_output("12345;cluster2\n") == "12345"
    assert s.parse_submit_output("sbatch: note: site banner\n777\n") == "777"


def test_sge_submit_output() -> None:
    s = get_scheduler("sge")
    assert s.parse_submit_output("1.1-5:1\n") == "1"  # recorded from the real SGE
    assert s.parse_submit_output("warning: JSV says hi\n4711\n") == "4711"


@pytest.mark.parametrize("name,fname,job_id", [
    ("pbs", "pbspro_qsub_array.txt", "1234[].pbsserver"),
    ("pbs", "pbspro_qsub_plain.txt", "1234.pbsserver"),
    ("torque", "torque_qsub_array.txt", "1098[].torque-head.cluster.org"),
    ("pbs", "site_wrapper_qsub.txt", "5678[].pbs01"),
])
def test_pbs_submit_output(name: str, fname: str, job_id: str) -> None:
    s = get_scheduler(name)
    assert s.parse_submit_output((REC / fname).read_text()) == job_id
    assert s.short_id(job_id) == job_id.split("[")[0].split(".")[0]


def test_unparsable_submit_output_explains_the_pattern_setting() -> None:
    s = get_scheduler("slurm")
    with pytest.raises(SchedulerError) as e:
        s.parse_submit_output("Your allocation is over quota\n")
    msg = str(e.value)
    assert "Your allocation is over quota" in msg and "submit-pattern" in msg


def test_overridden_submit_pattern() -> None:
    s = get_scheduler("slurm", {"submit_pattern": r"job (?P<id>\d+)"})
    assert s.parse_submit_output("Submitted batch job 42\n") == "42"


# -- queue listings ---------------------------------------------------------------------------
def test_slurm_queue_recorded() -> None:
    s = get_scheduler("slurm")
    entries = s.parse_queue((DATA / "slurm_squeue.txt").read_text())
    counts = {(e.array_id, e.state): e.count for e in entries}
    assert counts[("1", PENDING)] == 4  # 1_[2-5%3]
    assert sum(e.count for e in entries if e.array_id == "1" and e.state == RUNNING) == 2
    assert counts[("2", PENDING)] == 1


def test_sge_queue_recorded() -> None:
    s = get_scheduler("sge")
    entries = s.parse_queue((DATA / "sge_qstat.xml").read_text())
    one = [e for e in entries if e.array_id == "1"]
    assert sum(e.count for e in one if e.state == RUNNING) == 2
    assert sum(e.count for e in one if e.state == PENDING) == 3  # tasks 3-5:1
    assert [e.indices for e in entries if e.array_id == "2"] == [None]


@pytest.mark.parametrize("name,fname,running,pending", [
    ("pbs", "pbspro_qstat_t.txt", 2, 2),
    ("pbs", "pbspro_qstat_tu.txt", 2, 1),
    ("torque", "torque_qstat_t.txt", 2, 1),
])
def test_pbs_queue_recorded(name: str, fname: str, running: int, pending: int) -> None:
    s = get_scheduler(name)
    entries = s.parse_queue((REC / fname).read_text())
    arr = [e for e in entries if e.array_id in ("1234", "1098")]
    assert sum(e.count for e in arr if e.state == RUNNING) == running
    assert sum(e.count for e in arr if e.state == PENDING) == pending
    assert all(e.indices for e in arr)  # the parent line is dropped when elements are listed


def test_query_groups_by_array_and_ignores_other_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    s = get_scheduler("pbs")
    monkeypatch.setattr(s, "queue", lambda: s.parse_queue((REC / "pbspro_qstat_t.txt").read_text()))
    counts = s.query(["1234[].pbsserver", "999[].pbsserver"])
    assert (counts["1234[].pbsserver"].running, counts["1234[].pbsserver"].pending) == (2, 2)
    assert counts["999[].pbsserver"].alive == 0


# -- limits, throttle, cancel -------------------------------------------------------------------
def test_max_array_size_parsers() -> None:
    assert get_scheduler("slurm").parse_max_array_size("MaxArraySize            = 1001\n") == 1001
    assert get_scheduler("sge").parse_max_array_size("max_aj_instances 2000\nmax_aj_tasks 75000\n") == 75000
    assert get_scheduler("pbs").parse_max_array_size((REC / "pbspro_qstat_Bf.txt").read_text()) == 10000
    assert get_scheduler("torque").parse_max_array_size((REC / "torque_qstat_Bf.txt").read_text()) == 1024
    assert get_scheduler("slurm", {"max_array_size": 3}).split(7) == [3, 3, 1]


def test_throttle_and_cancel_commands() -> None:
    assert get_scheduler("slurm").throttle_args("12", 4) == [
        "scontrol", "update", "JobId=12", "ArrayTaskThrottle=4"]
    assert get_scheduler("sge").throttle_args("7", 3) == ["qalter", "-tc", "3", "7"]
    assert get_scheduler("pbs").throttle_args("5[].s", 2) == ["qalter", "-Wmax_run_subjobs=2", "5[].s"]
    assert get_scheduler("torque").throttle_args("5[].s", 2) is None
    assert get_scheduler("slurm").cancel_args(["1", "2"]) == ["scancel", "1", "2"]
    assert get_scheduler("pbs").element_id("5[].s", 3) == "5[3].s"
    assert get_scheduler("sge").element_id("7", 3) == "7.3"


def test_missing_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SchedulerError, match="'sbatch' not found on PATH"):
        get_scheduler("slurm").submit("/tmp/x.sh")


def test_signal_lead_stays_clear_of_slurm_signal_resolution() -> None:
    slurm, sge, pbs = (get_scheduler(n) for n in ("slurm", "sge", "pbs"))
    assert slurm.signal_lead(600) == 300  # half the margin
    assert slurm.signal_lead(90) == 29  # may arrive 60 s early: still after the budget
    assert slurm.signal_lead(30) is None  # no lead keeps it after the budget: none asked
    assert slurm.signal_lead(61) is None and slurm.signal_lead(62) == 1
    assert sge.signal_lead(90) == 45  # s_rt is exact to the second
    assert sge.signal_lead(2) == 1 and sge.signal_lead(1) is None
    assert pbs.signal_lead(600) is None  # PBS has no pre-walltime signal


def test_submit_module_imports_nothing_heavy() -> None:
    """`jug --help` lists every subcommand: loading submit must not pull in Jinja2 or YAML."""
    import subprocess
    import sys

    code = ("import sys, jug.commands.cli, jug.commands.submit, jug.schedulers;"
            "bad = [m for m in ('jinja2', 'yaml') if m in sys.modules];"
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_pythonpath_is_added_only_when_the_worker_python_cannot_import_this_jug(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys
    from pathlib import Path

    import jug
    from jug.hpc.job import _auto_pythonpath

    monkeypatch.delenv("PYTHONPATH", raising=False)
    root = str(Path(jug.__file__).resolve().parent.parent)
    expected_none = _auto_pythonpath(sys.executable)
    # this interpreter imports this jug without help only if jug is installed (pip install -e)
    assert expected_none in (None, root)
    bare = tmp_path / "bare-python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no site-packages
    bare.chmod(0o755)
    assert _auto_pythonpath(str(bare)) == root
    monkeypatch.setenv("PYTHONPATH", "/opt/site/lib")
    assert _auto_pythonpath(str(bare)) == os.pathsep.join([root, "/opt/site/lib"])


@pytest.mark.parametrize("name,raw,ok", [
    ("slurm", "--time=5:00", False), ("slurm", "-t 5", False), ("slurm", "--array=0-9", False),
    ("slurm", "--qos=high", True), ("slurm", "--tmp=10G", True), ("slurm", "--constraint=x", True),
    ("sge", "-l h_rt=1:00:00", False), ("sge", "-l mem_free=2G,h_rt=10", False),
    ("sge", "-l arch=lx-amd64", True), ("sge", "-tc 4", False), ("sge", "-P proj", True),
    ("pbs", "-l walltime=1:00:00", False), ("pbs", "-J 0-9", False),
    ("pbs", "-l place=scatter", True), ("torque", "-t 0-9", False), ("pbs", "-m abe", True),
])
def test_raw_directives_may_not_override_managed_settings(name: str, raw: str, ok: bool) -> None:
    assert (get_scheduler(name).check_directive(raw) is None) == ok


@pytest.mark.parametrize("env, expected", [
    ({"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "3"},
     {"scheduler": "slurm", "job_id": "101", "array_job_id": "100", "array_task_id": "3",
      "queue_id": "100_3"}),
    ({"SLURM_JOB_ID": "101"}, {"scheduler": "slurm", "job_id": "101", "array_job_id": None,
                               "array_task_id": None, "queue_id": "101"}),
    ({"PBS_JOBID": "12[7].srv", "PBS_ARRAY_ID": "12[].srv", "PBS_ARRAY_INDEX": "7"},
     {"scheduler": "pbs", "job_id": "12[7].srv", "array_job_id": "12[].srv",
      "array_task_id": "7", "queue_id": "12[7].srv"}),
    ({"PBS_JOBID": "12-7.srv", "PBS_ARRAYID": "7"},  # Torque's index variable
     {"scheduler": "pbs", "job_id": "12-7.srv", "array_job_id": None, "array_task_id": "7",
      "queue_id": "12-7.srv"}),
    ({"JOB_ID": "4711", "SGE_TASK_ID": "3"}, {"scheduler": "sge", "job_id": "4711",
     "array_job_id": "4711", "array_task_id": "3", "queue_id": "4711.3"}),
    ({"JOB_ID": "4711", "SGE_ROOT": "/sge", "SGE_TASK_ID": "undefined"},
     {"scheduler": "sge", "job_id": "4711", "array_job_id": "4711", "array_task_id": None,
      "queue_id": "4711"}),
    ({"JOB_ID": "4711"}, None),  # JOB_ID alone is not SGE's
    ({"HOME": "/root"}, None),
])
def test_batch_job_comes_from_the_adapters(env: dict, expected: dict | None) -> None:
    from jug.backends.owner import batch_job

    assert batch_job(env) == expected


def test_owner_gate_names_every_adapters_job_id_variable() -> None:
    from jug.backends.owner import JOB_ID_VARS
    from jug.schedulers import NAMES

    assert set(JOB_ID_VARS) == {get_scheduler(n).job_id_var for n in NAMES}


def test_scheduler_facts_are_read_not_probed() -> None:
    facts = {n: (get_scheduler(n).supports_throttle, get_scheduler(n).max_job_name,
                 get_scheduler(n).walltime_signals_kill) for n in ("slurm", "pbs", "torque", "sge")}
    assert facts == {"slurm": (True, None, False), "pbs": (True, 15, False),
                     "torque": (False, 15, False), "sge": (True, None, True)}
    for n, (throttles, _, _) in facts.items():  # the fact agrees with the command builder
        assert (get_scheduler(n).throttle_args("1", 2) is not None) == throttles


def test_each_setting_is_declared_once_and_everything_else_derives_from_it() -> None:
    from jug.commands import submit
    from jug.hpc import profiles, settings

    assert profiles.BUILTIN == {s.name: s.default for s in settings.SETTINGS if not s.loop}
    assert set(profiles.LIST_KEYS) == {"directive", "prologue", "epilogue", "execute_args", "pool"}
    helps = {o.name: o.help for o in submit.OPTIONS}
    assert helps["walltime"].endswith("(default: 01:00:00)")
    assert helps["log-dir"].endswith("(default: logs)") and helps["poll"].endswith("(default: 60)")
    assert helps["stale-after"].endswith("(default: 300)")
    from jug.hpc.watch import WatchOptions

    assert (WatchOptions(1).poll, WatchOptions(1).stale_after) == (60.0, 300.0)
    assert not settings.applies_to("parallel_env", "slurm") and settings.applies_to("parallel_env", "sge")
    from jug.schedulers import NAMES

    assert settings.ALL == NAMES  # the schema names every adapter
