"""Reading how jobs ended from SGE's ``qacct -j`` and PBS's ``qstat -x -f`` (the SLURM
reader sits on its adapter: ``sacct`` is one line per job).  Used by their adapters only.

SGE's record says ``failed`` (a code, ``100 : assumedly after job`` for a job ended by a
signal, ``37`` when the master enforced a hard limit) and ``exit_status`` (``137``: SIGKILL),
the largest virtual memory (``maxvmem``) and the request (``category  -l h_rt=..,h_vmem=..``):
a kill near the ``h_vmem`` limit is out of memory, one at the ``h_rt`` limit is the walltime,
another ``failed 100`` kill is a ``qdel`` (cancelled), a job that could not start is a node
failure.  PBS says ``Exit_status``: negative codes are PBS's own (memory, walltime, rerun
after a node went down), above 256 (PBS Pro) or 128 (Torque) a signal.
"""

from __future__ import annotations

import re
from typing import Iterator

from .fate import Cause, Fate, parse_size

#: SGE ``failed`` codes of a job that never ran its script: the host's fault
_SGE_NOT_STARTED = {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 19, 21, 25}
#: PBS Pro's own negative exit statuses
_PBS_CODES = {-27: Cause.OUT_OF_MEMORY, -28: Cause.OUT_OF_MEMORY, -29: Cause.WALLTIME,
              -30: Cause.WALLTIME, -11: Cause.NODE_FAILURE, -3: Cause.NODE_FAILURE,
              -1: Cause.NODE_FAILURE, -20: Cause.NODE_FAILURE}


def _qacct_records(stdout: str) -> Iterator[dict[str, str]]:
    record: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("====="):
            if record:
                yield record
            record = {}
            continue
        key, _, value = line.partition(" ")
        if key and re.fullmatch(r"[a-z_]+", key):
            record[key] = value.strip()
    if record:
        yield record


def _limits(category: str) -> dict[str, str]:
    """``{"h_rt": "3600", "h_vmem": "200M"}`` from ``-U x -l h_rt=3600,h_vmem=200M``."""
    out = {}
    for group in re.findall(r"-l\s+(\S+)", category):
        for item in group.split(","):
            k, _, v = item.partition("=")
            out[k] = v
    return out


def _seconds(text: str) -> float | None:
    m = re.match(r"\s*(\d+(?:\.\d+)?)s?\s*$", text or "")
    return float(m.group(1)) if m else None


def sge_fate(rec: dict[str, str]) -> Fate:
    """The :class:`Fate` of one ``qacct`` record."""
    failed = int(re.match(r"\s*(\d*)", rec.get("failed", "0")).group(1) or 0)
    status_text = rec.get("exit_status", "0")
    status = int(re.match(r"\s*(\d*)", status_text).group(1) or 0)
    detail = f"failed {rec.get('failed', '0')}; exit_status {status_text}"
    vmem = parse_size(rec.get("maxvmem", ""))
    limits = _limits(rec.get("category", ""))
    if failed in _SGE_NOT_STARTED:
        return Fate(Cause.NODE_FAILURE, detail, vmem)
    if failed == 0 and status == 0:
        return Fate(Cause.COMPLETED, detail, vmem)
    if failed in (37, 100) or status in (137, 152, 138):
        limit = parse_size(limits.get("h_vmem", ""), bare=1) if limits.get("h_vmem") else None
        if limit and vmem and vmem >= 0.9 * limit:
            return Fate(Cause.OUT_OF_MEMORY, detail, vmem)
        h_rt, ran = _seconds(limits.get("h_rt", "")), _seconds(rec.get("ru_wallclock", ""))
        if status == 138 or (h_rt and ran is not None and ran >= h_rt - 2):
            return Fate(Cause.WALLTIME, detail, vmem)
        if failed == 100 and status == 137:
            return Fate(Cause.CANCELLED, detail, vmem)  # qdel: SIGKILL, no limit reached
    return Fate(Cause.FAILED, detail, vmem)


def parse_qacct(stdout: str) -> dict[str, Fate]:
    """``{queue id: Fate}`` (``4711.3`` for an array element, ``4711`` otherwise)."""
    out = {}
    for rec in _qacct_records(stdout):
        job, task = rec.get("jobnumber", ""), rec.get("taskid", "undefined")
        if not job.isdigit():
            continue
        out[f"{job}.{task}" if task.isdigit() else job] = sge_fate(rec)
    return out


def _qstat_records(stdout: str) -> Iterator[tuple[str, dict[str, str]]]:
    job, record, last = "", {}, ""
    for line in stdout.splitlines():
        if line.startswith("Job Id:"):
            if job:
                yield job, record
            job, record, last = line.split(":", 1)[1].strip(), {}, ""
        elif " = " in line:
            key, _, value = line.strip().partition(" = ")
            record[key] = value
            last = key
        elif line.startswith("\t") and last:  # a long value continues on the next line
            record[last] += line.strip()
    if job:
        yield job, record


def pbs_fate(rec: dict[str, str], signal_base: int = 256) -> Fate | None:
    """The :class:`Fate` of one finished job of ``qstat -x -f`` (None: not finished)."""
    if rec.get("job_state") not in ("F", "C", "X"):
        return None
    try:
        status = int(rec.get("Exit_status", rec.get("exit_status", "")))
    except ValueError:
        return None
    used = parse_size(rec.get("resources_used.mem", ""))
    detail = f"Exit_status {status}" + (f"; {rec['comment']}" if rec.get("comment") else "")
    if status == 0:
        return Fate(Cause.COMPLETED, detail, used)
    if status in _PBS_CODES:
        return Fate(_PBS_CODES[status], detail, used)
    asked = parse_size(rec.get("Resource_List.mem", ""))
    if asked and used and used >= 0.95 * asked:
        return Fate(Cause.OUT_OF_MEMORY, detail, used)
    if status > signal_base:
        wall, limit = rec.get("resources_used.walltime"), rec.get("Resource_List.walltime")
        if wall and limit and _hms(wall) >= _hms(limit) - 2:
            return Fate(Cause.WALLTIME, detail, used)
        return Fate(Cause.CANCELLED, detail, used)  # qdel: SIGTERM then SIGKILL
    return Fate(Cause.FAILED, detail, used)


def _hms(text: str) -> int:
    parts = [int(p) for p in re.findall(r"\d+", text)]
    total = 0
    for p in parts:
        total = total * 60 + p
    return total


def parse_qstat_full(stdout: str, signal_base: int = 256) -> dict[str, Fate]:
    """``{queue id: Fate}`` of ``qstat -x -f`` (finished jobs and array elements)."""
    out = {}
    for job, rec in _qstat_records(stdout):
        fate = pbs_fate(rec, signal_base)
        if fate is not None:
            out[job] = fate
    return out
