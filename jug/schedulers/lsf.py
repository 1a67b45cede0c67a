"""LSF facts: ``#BSUB``, ``-J "name[1-N]%K"``, ``LSB_JOBINDEX``, ``bsub < script``, ``bjobs -json``.

IBM Spectrum LSF (and its open relatives) as its documentation describes it; no LSF could be
run here, so every output format this module parses is kept, as recorded from the manuals, in
``tests/fakelsf/recorded/`` and parsed there by the tests.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from typing import Any, Mapping, Sequence

from .base import (
    DONE,
    PENDING,
    RUNNING,
    ArrayCounts,
    QueueEntry,
    Scheduler,
    SchedulerError,
    UnsupportedSetting,
    index_runs,
)

_PENDING = {"PEND", "PSUSP", "WAIT", "PROV"}  # waiting, held while pending, chunk, waking host
# USUSP/SSUSP keep their slots and resume; UNKWN: mbatchd lost the host, the job may still run
_RUNNING = {"RUN", "USUSP", "SSUSP", "UNKWN"}
#: megabytes in one unit of LSF_UNIT_FOR_LIMITS (the ``lsf-mem-unit`` setting)
MEM_UNITS = {"KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024, "PB": 1024 ** 3,
             "EB": 1024 ** 4, "ZB": 1024 ** 5}
#: MAX_JOB_ARRAY_SIZE when lsb.params does not set it (the documented default)
DEFAULT_MAX_ARRAY_SIZE = 1000


def mem_unit(value: Any) -> str:
    """``MB`` from ``mb``, ``M`` or ``MB``; UnsupportedSetting for anything else."""
    unit = str(value or "MB").strip().upper()
    unit = unit if unit.endswith("B") else unit + "B"
    if unit not in MEM_UNITS:
        raise UnsupportedSetting(f"lsf-mem-unit '{value}' is not an LSF unit: write the "
                                 f"site's LSF_UNIT_FOR_LIMITS, one of {', '.join(MEM_UNITS)}")
    return unit


class LSF(Scheduler):
    """LSF: arrays from 1 with a ``%`` slot limit changeable live (``bmod -J "%K"``), ``-W``
    in whole minutes, ``-wa USR1 -wt`` before the run limit, ``-w "ended(ID)"``."""

    name = "lsf"
    template = "lsf.sh.j2"
    planner_template = "lsf-planner.sh.j2"
    prefix = "#BSUB"
    index_var = "LSB_JOBINDEX"
    job_id_var = "LSB_JOBID"
    first_index = 1
    submit_command = ("bsub",)
    # "Job <1234> is submitted to queue <normal>." or "... to default queue <normal>."
    submit_pattern = r"^Job <(?P<id>\d+)> is submitted to (?:default )?queue <[^>]*>\.?$"
    detect_commands = ("bsub", "bjobs")
    log_pattern = "%J_%I.out"  # the template puts the job name in front (LSF has no %x)
    supports_throttle = True
    supports_signal = True  # -wa USR1 -wt <minutes>
    signal_name = "SIGUSR1 (-wa/-wt)"
    # the warning is SIGUSR1, which jug execute takes like SIGTERM (it releases the lock)
    own_settings = ("lsf_mem_unit",)  # the site's LSF_UNIT_FOR_LIMITS
    managed_directives = (
        (r"-W\b", "--walltime"), (r"-J\b", "--workers / --throttle / --job-name"),
        (r"-w[at]\b", "--margin"), (r"-[oe]o?\b", "--log-dir"), (r"-cwd\b", "the working folder"),
        (r"-w\b", "--until-done (it sets the dependency of the planner job)"),
    )

    # bsub reads "#BSUB" lines like a command line: a double-quoted argument may hold spaces
    # (-R "rusage[mem=...]" is the documented form). No LSF could be tried here, so a path
    # holding a character that such a parser could read otherwise is refused; "%" is a file
    # name placeholder of -o (%J, %I) with no documented escape.
    path_unsafe = {"\n": "a line break ends the directive",
                   '"': "would end the double-quoted argument of a #BSUB directive",
                   "\\": "may be read as an escape by bsub's directive parser"}
    log_unsafe = {"%": "is a placeholder of -o (%J, %I) that LSF cannot escape"}

    # -- settings ---------------------------------------------------------------------------
    def effective_walltime(self, seconds: int) -> int:
        """``-W`` is ``[HH:]MM``: the walltime rounded down to whole minutes (the run limit
        LSF really enforces, so the budget is derived from it)."""
        if seconds < 60:
            raise UnsupportedSetting(
                f"LSF's run limit (-W) is in whole minutes: a walltime of {seconds}s is less "
                f"than one; give at least --walltime 0:01:00")
        return seconds - seconds % 60

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """The memory unit must be one of LSF's."""
        mem_unit(settings.get("lsf_mem_unit"))

    # -- formats ----------------------------------------------------------------------------
    @staticmethod
    def run_limit(seconds: int) -> str:
        """``-W`` as ``H:MM`` ([HH:]MM): the whole minutes of ``seconds``, at least one."""
        h, m = divmod(max(60, int(seconds)) // 60, 60)
        return f"{h}:{m:02d}"

    def format_memory(self, mbytes: int) -> str:
        """A number in the site's LSF_UNIT_FOR_LIMITS (``lsf-mem-unit``), rounded up."""
        unit = mem_unit(self.settings.get("lsf_mem_unit"))
        return str(max(1, math.ceil(mbytes / MEM_UNITS[unit])))

    def array_spec(self, size: int, throttle: int | None = None) -> str:
        """``[1-N]`` or ``[1-N]%K``: what follows the job name in ``-J``."""
        spec = f"[{self.first_index}-{self.first_index + size - 1}]"
        return f"{spec}%{throttle}" if throttle else spec

    def signal_lead(self, margin: int) -> int | None:
        """Whole minutes (``-wt``): half the margin rounded down, at least one minute, and
        none where a minute would reach into the budget (margin of a minute or less)."""
        if margin <= 60:
            return None
        return max(1, margin // 2 // 60) * 60

    def template_context(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """The ``-R`` resource string: memory reservation, one host for several slots."""
        parts = []
        if job.get("mem"):
            parts.append(f"rusage[mem={self.format_memory(int(job['mem']))}]")
        if (job.get("cpus_per_task") or 1) > 1:
            parts.append("span[hosts=1]")
        return {"resources": " ".join(parts), "run_limit": self.run_limit(job["walltime"])}

    def dependency(self, job_ids: Sequence[str]) -> str:
        """``-w "ended(1) && ended(2)"``: held until every element of each array ended."""
        return '-w "' + " && ".join(f"ended({self.short_id(j)})" for j in job_ids) + '"'

    # -- jobs -------------------------------------------------------------------------------
    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """``LSB_JOBID`` (the array's id, shared by its elements) and ``LSB_JOBINDEX`` (0
        outside an array); the queue shows an element as ``1234[3]``."""
        job_id = env.get(cls.job_id_var)
        if not job_id:
            return None
        index = env.get(cls.index_var)
        if index in (None, "", "0"):
            return cls._job_record(job_id, None, None, job_id)
        return cls._job_record(job_id, job_id, index, cls.element_id(job_id, index))

    @staticmethod
    def element_id(array_id: str, index: int | str) -> str:
        """``1234[3]``."""
        return f"{array_id}[{index}]"

    def submit_args(self, script: str) -> list[str]:
        """``sh -c 'exec bsub < SCRIPT'``: bsub reads ``#BSUB`` lines only from a script on
        its standard input (a script named as the command is a command, its lines unread)."""
        return ["sh", "-c", f"exec {shlex.join(self.submit_command)} < {shlex.quote(script)}"]

    def submit(self, script: str, cwd: str | None = None) -> str:
        """Submit through ``sh`` after checking that bsub itself is there."""
        self._require(self.submit_command[0], f"{self.name} submit")
        return super().submit(script, cwd)

    def queue_args(self) -> list[str]:
        """One ``bjobs`` for every unfinished element of the user, as JSON."""
        return ["bjobs", "-u", self.user, "-o", "jobid jobindex stat", "-json"]

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """``{"COMMAND":"bjobs","JOBS":n,"RECORDS":[{"JOBID":..,"JOBINDEX":..,"STAT":..}]}``;
        ``No unfinished job found`` (or nothing) is an empty queue."""
        text = stdout.strip()
        if not text or text.startswith("No ") and "job found" in text:
            return []
        try:
            records = json.loads(text).get("RECORDS") or []
        except (ValueError, AttributeError):
            shown = "\n  ".join(text.splitlines()[:5])
            raise SchedulerError(f"cannot read the output of bjobs -json:\n  {shown}")
        return [e for r in records if (e := _entry(r)) is not None]

    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """``bkill ID...`` (an array id kills every element)."""
        return ["bkill", *job_ids]

    def cancel_elements_args(self, job_id: str, indices: Sequence[int]) -> list[list[str]]:
        """``bkill "1234[3,5-7]"``: one command for the given elements."""
        if not indices:
            return []
        runs = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in index_runs(indices))
        return [["bkill", f"{self.short_id(job_id)}[{runs}]"]]

    def cancel_pending_args(self, job_id: str, counts: ArrayCounts) -> list[list[str]]:
        """The pending elements (PEND, PSUSP) by index."""
        pending = [i for e in counts.entries if e.state == PENDING for i in (e.indices or [])]
        whole = any(e.state == PENDING and e.indices is None for e in counts.entries)
        return [self.cancel_args([job_id])] if whole else self.cancel_elements_args(job_id,
                                                                                   pending)

    def throttle_args(self, job_id: str, limit: int) -> list[str]:
        """``bmod -J "%K" ID`` changes the slot limit of a live array."""
        return ["bmod", "-J", f"%{max(1, int(limit))}", job_id]

    def max_array_size_args(self) -> list[str]:
        """``bparams -a`` shows MAX_JOB_ARRAY_SIZE where lsb.params sets it."""
        return ["bparams", "-a"]

    def parse_max_array_size(self, stdout: str) -> int | None:
        """``MAX_JOB_ARRAY_SIZE = 10000``; not shown: the documented default, 1000."""
        m = re.search(r"^\s*MAX_JOB_ARRAY_SIZE\s*=\s*(\d+)", stdout, re.M)
        return int(m.group(1)) if m else DEFAULT_MAX_ARRAY_SIZE

    def max_array_size(self) -> int | None:
        """The limit from ``bparams``, or 1000 (LSF's default) when it cannot be asked."""
        return super().max_array_size() or DEFAULT_MAX_ARRAY_SIZE


def _entry(record: Mapping[str, Any]) -> QueueEntry | None:
    """One bjobs record: ``JOBID`` (``1234`` or, with LSB_BJOBS_DISPLAY_ENH, ``1234[3]``),
    ``JOBINDEX`` (0 outside an array), ``STAT``; records of errors (``ERROR``) are skipped."""
    m = re.match(r"^(\d+)(?:\[(\d+)\])?$", str(record.get("JOBID") or "").strip())
    state = str(record.get("STAT") or "").strip()
    if not m or not state or record.get("ERROR"):
        return None
    index = m.group(2) or str(record.get("JOBINDEX") or "0").strip()
    indices = [int(index)] if index.isdigit() and int(index) > 0 else None
    norm = PENDING if state in _PENDING else RUNNING if state in _RUNNING else DONE
    return QueueEntry(m.group(1), indices, norm, state)
