"""Unit tests of the LSF and HTCondor adapters: the outputs recorded from their documentation
(tests/fakelsf/recorded, tests/fakecondor/recorded), formats, limits, and the rules over a
space of inputs (Hypothesis)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FAKECONDOR, FAKELSF, base_env

from jug.hpc.job import JobPlan, SubmitError
from jug.schedulers import PENDING, RUNNING, SchedulerError, get_scheduler
from jug.schedulers.base import expand_indices, tally

LSF_REC = FAKELSF / "recorded"
CONDOR_REC = FAKECONDOR / "recorded"


def plan(scheduler: str, **extra: object) -> JobPlan:
    """A plan with fixed paths."""
    settings_ = {"scheduler": scheduler, "workers": 4, "walltime": "01:00:00",
                 "python": "/p", "pythonpath": "none", **extra}
    return JobPlan.from_settings(settings_, "/home/user/proj/jugfile.py",
                                 workdir="/home/user/proj")


def counts(sched: str, text: str, ids: list[str]) -> dict[str, tuple[int, int]]:
    s = get_scheduler(sched)
    return {k: (c.pending, c.running) for k, c in
            tally(s.parse_queue(text), ids, s.short_id).items()}


# -- LSF --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fname,job_id", [("bsub_default_queue.txt", "123"),
                                          ("bsub_site_banner.txt", "33383740")])
def test_lsf_submit_output(fname: str, job_id: str) -> None:
    assert get_scheduler("lsf").parse_submit_output((LSF_REC / fname).read_text()) == job_id


def test_lsf_refusal_messages_are_not_taken_for_an_id() -> None:
    for fname in ("bsub_array_too_large.txt", "bsub_dependency.txt"):
        with pytest.raises(SchedulerError, match="submit-pattern"):
            get_scheduler("lsf").parse_submit_output((LSF_REC / fname).read_text())


def test_lsf_queue_recorded() -> None:
    """Pending (PEND, PSUSP) and running (RUN, USUSP, SSUSP) elements; EXIT is gone."""
    text = (LSF_REC / "bjobs_json.txt").read_text()
    assert counts("lsf", text, ["4711", "4712", "4713", "99"]) == {
        "4711": (3, 3), "4712": (0, 1), "4713": (1, 0), "99": (0, 0)}
    entries = get_scheduler("lsf").parse_queue(text)
    assert [(e.indices, e.raw_state) for e in entries if e.array_id == "4711"][2] == ([3], "USUSP")
    assert [e.indices for e in entries if e.array_id == "4713"] == [None]  # not an array


def test_lsf_queue_with_indexed_ids_unknown_ids_and_nothing() -> None:
    enh = (LSF_REC / "bjobs_json_enh.txt").read_text()
    assert counts("lsf", enh, ["4711"]) == {"4711": (1, 2)}  # UNKWN may still run
    gone = (LSF_REC / "bjobs_json_not_found.txt").read_text()
    assert counts("lsf", gone, ["4711", "4712"]) == {"4711": (0, 0), "4712": (0, 1)}
    assert get_scheduler("lsf").parse_queue((LSF_REC / "bjobs_empty.txt").read_text()) == []
    with pytest.raises(SchedulerError, match="cannot read the output of bjobs"):
        get_scheduler("lsf").parse_queue("LSF is processing your request. Please wait ...")


def test_lsf_array_size_limit() -> None:
    lsf = get_scheduler("lsf")
    assert lsf.parse_max_array_size((LSF_REC / "bparams_a.txt").read_text()) == 10000
    assert lsf.parse_max_array_size((LSF_REC / "bparams_default.txt").read_text()) == 1000
    assert get_scheduler("lsf", {"max_array_size": 2}).split(5) == [2, 2, 1]


def test_lsf_walltime_is_rounded_down_to_minutes_and_the_budget_follows() -> None:
    p = plan("lsf", walltime="1:30:59", margin="10m")
    assert p.walltime == 5400 and p.budget == 4800
    text = p.render()
    assert "#BSUB -W 1:30\n" in text and "JUG_MAX_HOURS=1 JUG_MAX_MINUTES=20" in text
    assert "#BSUB -wa USR1\n#BSUB -wt 5\n" in text
    with pytest.raises(SubmitError, match=r"whole minutes: a walltime of 59s"):
        plan("lsf", walltime="0:00:59")


@pytest.mark.parametrize("margin,lead", [(600, 300), (300, 120), (119, 60), (61, 60),
                                         (60, None), (30, None), (7200, 3600)])
def test_lsf_warning_is_whole_minutes_after_the_budget(margin: int, lead: int | None) -> None:
    """-wt takes minutes: never before the budget ends (lead < margin), at most half of it
    where a minute fits."""
    got = get_scheduler("lsf").signal_lead(margin)
    assert got == lead
    assert got is None or (got % 60 == 0 and got < margin)


@pytest.mark.parametrize("unit,value", [("MB", "4096"), ("KB", "4194304"), ("GB", "4"),
                                        ("g", "4"), ("mb", "4096")])
def test_lsf_memory_in_the_site_unit(unit: str, value: str) -> None:
    text = plan("lsf", mem="4G", lsf_mem_unit=unit).render()
    assert f'#BSUB -R "rusage[mem={value}]"' in text
    assert plan("lsf", mem="1500M", lsf_mem_unit="GB").scheduler.format_memory(1500) == "2"


def test_lsf_unknown_memory_unit_is_one_clear_line() -> None:
    with pytest.raises(SubmitError, match="lsf-mem-unit 'MiB' is not an LSF unit"):
        plan("lsf", mem="4G", lsf_mem_unit="MiB")


def test_lsf_commands() -> None:
    lsf = get_scheduler("lsf")
    assert lsf.throttle_args("4711", 3) == ["bmod", "-J", "%3", "4711"]
    assert lsf.cancel_elements_args("4711", [7, 2, 3, 4, 9]) == [["bkill", "4711[2-4,7,9]"]]
    assert lsf.cancel_args(["4711"]) == ["bkill", "4711"]
    assert lsf.dependency(["4711", "4712"]) == '-w "ended(4711) && ended(4712)"'
    assert lsf.submit_args("/a b/x.sh") == ["sh", "-c", "exec bsub < '/a b/x.sh'"]
    assert lsf.queue_args()[-1] == "-json" and "-u" in lsf.queue_args()
    assert lsf.element_id("4711", 3) == "4711[3]"
    text = (LSF_REC / "bjobs_json.txt").read_text()
    c = tally(lsf.parse_queue(text), ["4711"], lsf.short_id)["4711"]
    assert lsf.cancel_pending_args("4711", c) == [["bkill", "4711[4-6]"]]


@pytest.mark.parametrize("env,expected", [
    ({"LSB_JOBID": "4711", "LSB_JOBINDEX": "3"},
     {"scheduler": "lsf", "job_id": "4711", "array_job_id": "4711", "array_task_id": "3",
      "queue_id": "4711[3]"}),
    ({"LSB_JOBID": "4713", "LSB_JOBINDEX": "0"},
     {"scheduler": "lsf", "job_id": "4713", "array_job_id": None, "array_task_id": None,
      "queue_id": "4713"}),
    ({"HTCONDOR_JOBID": "1234.5", "HTCONDOR_PROCID": "5"},
     {"scheduler": "htcondor", "job_id": "1234.5", "array_job_id": "1234",
      "array_task_id": "5", "queue_id": "1234.5"}),
])
def test_batch_job_of_lsf_and_htcondor(env: dict, expected: dict) -> None:
    from jug.backends.owner import batch_job

    assert batch_job(env) == expected


# -- HTCondor ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fname", ["submit_terse.txt", "submit_terse_with_warning.txt"])
def test_condor_submit_output(fname: str) -> None:
    assert get_scheduler("htcondor").parse_submit_output((CONDOR_REC / fname).read_text()) \
        == "1234"


def test_condor_verbose_submit_output_needs_a_pattern() -> None:
    text = (CONDOR_REC / "submit_default.txt").read_text()
    with pytest.raises(SchedulerError, match="submit-pattern"):
        get_scheduler("htcondor").parse_submit_output(text)
    custom = get_scheduler("htcondor", {"submit_pattern": r"submitted to cluster (?P<id>\d+)"})
    assert custom.parse_submit_output(text) == "1234"


def test_condor_queue_recorded() -> None:
    """Held by the user: pending; held by HTCondor: done (it never runs by itself); removed,
    completed: done; transferring output, suspended: running; a throttled factory's procs
    not yet materialized: pending."""
    text = (CONDOR_REC / "q_json.txt").read_text()
    assert counts("htcondor", text, ["1234", "1235"]) == {"1234": (2, 4), "1235": (1 + 16, 2)}
    held = [e for e in get_scheduler("htcondor").parse_queue(text) if e.raw_state == "H"]
    assert [(e.indices, e.state) for e in held] == [([3], PENDING), ([4], "done")]
    for empty in ((CONDOR_REC / "q_json_empty.txt").read_text(), "[]\n"):
        assert get_scheduler("htcondor").parse_queue(empty) == []
    with pytest.raises(SchedulerError, match="cannot read the output of condor_q"):
        get_scheduler("htcondor").parse_queue("-- Failed to fetch ads from: <127.0.0.1:9618>")


def test_condor_commands() -> None:
    c = get_scheduler("htcondor")
    assert c.throttle_args("1234", 4) == ["condor_qedit", "1234", "JobMaterializeLimit", "4"]
    assert c.cancel_elements_args("1234", [3, 5]) == [["condor_rm", "1234.3", "1234.5"]]
    assert c.submit_args("/x/logs/j_1.sh") == ["condor_submit", "-terse", "/x/logs/j_1.sub"]
    text = (CONDOR_REC / "q_json.txt").read_text()
    both = tally(c.parse_queue(text), ["1234", "1235"], c.short_id)
    assert c.cancel_pending_args("1234", both["1234"]) == [["condor_rm", "1234.2", "1234.3"]]
    assert c.cancel_pending_args("1235", both["1235"]) == [["condor_rm", "1235.3"]]
    both["1235"].running = 0  # nothing runs: the factory and all its procs go at once
    assert c.cancel_pending_args("1235", both["1235"]) == [["condor_rm", "1235"]]


def test_condor_queue_is_refused_in_one_line() -> None:
    with pytest.raises(SubmitError, match="HTCondor has no queues or partitions"):
        plan("htcondor", queue="short")


@pytest.mark.parametrize("style,lines", [
    ("both", ["periodic_remove = (JobStatus == 2) && (time() - JobCurrentStartDate > 3600)",
              "+MaxRuntime = 3600"]),
    ("periodic-remove", ["periodic_remove = (JobStatus == 2)"]),
    ("max-runtime", ["+MaxRuntime = 3600"]), ("+MaxRuntime", ["+MaxRuntime = 3600"]),
])
def test_condor_walltime_styles(style: str, lines: list[str]) -> None:
    text = plan("htcondor", condor_walltime=style).render()
    for line in lines:
        assert f"#HTCONDOR {line}" in text
    assert text.count("#HTCONDOR periodic_remove") + text.count("#HTCONDOR +MaxRuntime") \
        == len(lines)
    with pytest.raises(SubmitError, match="condor-walltime 'wallclock'"):
        plan("htcondor", condor_walltime="wallclock")


def test_condor_description_puts_the_executable_first_and_queue_last(tmp_path: Path) -> None:
    p = plan("htcondor", throttle=2, directive=["requirements = (OpSys == \"LINUX\")"])
    script = tmp_path / "j.sh"
    script.write_text(p.render())
    lines = p.scheduler.description(str(script)).splitlines()
    assert lines[0] == f"executable = {script}" and lines[-1] == "queue 4"
    assert 'requirements = (OpSys == "LINUX")' in lines and "max_materialize = 2" in lines
    assert not any(ln.startswith("#") for ln in lines)


@pytest.mark.parametrize("folder,char", [("/home/my proj", "' '"), ("/home/a$b", "'$'"),
                                         ("/home/a#b", "'#'")])
def test_condor_paths_it_cannot_hold_are_refused(folder: str, char: str) -> None:
    with pytest.raises(SubmitError, match=f"htcondor cannot take the path .* {re.escape(char)}"):
        JobPlan.from_settings({"scheduler": "htcondor", "workers": 2, "walltime": "1:00:00",
                               "python": "/p", "pythonpath": "none"}, f"{folder}/jugfile.py",
                              workdir=folder)


@pytest.mark.parametrize("folder,ok", [("/home/my proj", True), ('/home/a"b', False),
                                       ("/home/50%", False)])
def test_lsf_paths(folder: str, ok: bool) -> None:
    make = lambda: JobPlan.from_settings(  # noqa: E731
        {"scheduler": "lsf", "workers": 2, "walltime": "1:00:00", "python": "/p",
         "pythonpath": "none"}, f"{folder}/jugfile.py", workdir=folder)
    if ok:
        assert f'#BSUB -cwd "{folder}"' in make().render()
    else:
        with pytest.raises(SubmitError, match="lsf cannot take the path"):
            make()


@pytest.mark.parametrize("name,raw,ok", [
    ("lsf", "-W 10", False), ("lsf", '-J "x[1-4]"', False), ("lsf", "-wt 5", False),
    ("lsf", "-o /tmp/x", False), ("lsf", '-R "select[type==X86_64]"', True),
    ("lsf", "-w done(12)", False), ("lsf", "-x", True), ("lsf", "-G grp", True),
    ("htcondor", "queue 5", False), ("htcondor", "periodic_remove = true", False),
    ("htcondor", "+MaxRuntime = 60", False), ("htcondor", "max_materialize = 3", False),
    ("htcondor", "universe = docker", False), ("htcondor", "requirements = (Memory > 9)", True),
    ("htcondor", "+JobFlavour = \"longlunch\"", True), ("htcondor", "getenv = true", True),
])
def test_raw_directives_that_would_override_jug(name: str, raw: str, ok: bool) -> None:
    assert (get_scheduler(name).check_directive(raw) is None) == ok


@pytest.mark.parametrize("args,message", [
    (["--scheduler", "htcondor", "-q", "short"], "jug submit: HTCondor has no queues"),
    (["--scheduler", "lsf", "-t", "0:00:30"], "jug submit: LSF's run limit (-W) is in whole"),
    (["--scheduler", "condor", "--directive", "queue 4"], "jug submit: directive 'queue 4'"),
])
def test_refusals_from_the_cli_are_one_line(tmp_path: Path, args: list, message: str) -> None:
    (tmp_path / "work.py").write_text("from jug import Task\nx = Task(abs, -1)\n")
    p = subprocess.run([sys.executable, "-m", "jug", "submit", *args, "--dry-run", "work.py"],
                       cwd=tmp_path, env=base_env(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and p.stderr.startswith(message), p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


# -- rules over a space of inputs ---------------------------------------------------------
LSF_STATES = ["PEND", "PSUSP", "RUN", "USUSP", "SSUSP", "DONE", "EXIT", "UNKWN", "WAIT"]
elements = st.lists(st.tuples(st.sampled_from(["11", "12", "13"]), st.integers(1, 60),
                              st.sampled_from(LSF_STATES)), max_size=40,
                    unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=200, deadline=None)
@given(elements, st.booleans())
def test_lsf_queue_counts_every_element_once(els: list, enh: bool) -> None:
    """Whatever the mix of states and id layout, each array's pending and running counts
    are those of its elements."""
    records = [({"JOBID": f"{a}[{i}]"} if enh else {"JOBID": a, "JOBINDEX": str(i)})
               | {"STAT": s} for a, i, s in els]
    text = json.dumps({"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records},
                      indent=2, separators=(",", ":"))
    got = counts("lsf", text, ["11", "12", "13"])
    for a in ("11", "12", "13"):
        mine = [s for x, _, s in els if x == a]
        want = (sum(s in ("PEND", "PSUSP", "WAIT") for s in mine),
                sum(s in ("RUN", "USUSP", "SSUSP", "UNKWN") for s in mine))
        assert got[a] == want


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(1, 500), min_size=1, max_size=60))
def test_lsf_element_lists_name_exactly_the_elements(indices: set) -> None:
    [[cmd, target]] = get_scheduler("lsf").cancel_elements_args("77", sorted(indices))
    assert cmd == "bkill" and target.startswith("77[")
    assert sorted(expand_indices(target[2:])) == sorted(indices)


procs = st.lists(st.tuples(st.sampled_from([5, 6]), st.integers(0, 30),
                           st.sampled_from([1, 2, 3, 4, 5, 6, 7]), st.sampled_from([1, 6, 13])),
                 max_size=30, unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=200, deadline=None)
@given(procs, st.integers(0, 40))
def test_condor_queue_counts_procs_and_procs_to_come(ads: list, late: int) -> None:
    """Each proc counts once by its JobStatus (a held one as pending only if the user held
    it); cluster 6 is a factory with ``late`` procs still to materialize."""
    top = max([i for c, i, _s, _h in ads if c == 6], default=-1) + 1
    rows = [{"ClusterId": c, "ProcId": i, "JobStatus": s, "HoldReasonCode": h}
            | ({"TotalSubmitProcs": top + late, "JobMaterializeNextProcId": top} if c == 6
               else {}) for c, i, s, h in ads]
    text = "[\n" + "\n,\n".join(json.dumps(r, indent=2) for r in rows) + "\n]" if rows else ""
    got = counts("htcondor", text, ["5", "6"])
    for c in (5, 6):
        mine = [(s, h) for x, _i, s, h in ads if x == c]
        pending = sum(s == 1 or (s == 5 and h == 1) for s, h in mine)
        running = sum(s in (2, 6, 7) for s, _h in mine)
        extra = late if c == 6 and any(x == 6 for x, *_ in ads) else 0
        assert got[str(c)] == (pending + extra, running)


def test_adapters_state_their_facts() -> None:
    facts = {n: (get_scheduler(n).supports_throttle, get_scheduler(n).supports_signal,
                 get_scheduler(n).walltime_signals_kill, get_scheduler(n).first_index)
             for n in ("lsf", "htcondor")}
    assert facts == {"lsf": (True, True, False, 1), "htcondor": (True, False, False, 0)}
    assert get_scheduler("condor").name == "htcondor"
    assert RUNNING != PENDING
