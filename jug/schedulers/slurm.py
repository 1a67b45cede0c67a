"""SLURM facts: ``#SBATCH``, ``--array=0-N%T``, ``SLURM_ARRAY_TASK_ID``, ``sbatch --parsable``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Mapping, Sequence

from .base import (
    DONE,
    PENDING,
    RUNNING,
    ArrayCounts,
    Elapsed,
    QueueEntry,
    Scheduler,
    expand_indices,
)
from .fate import Cause, Fate, parse_size

_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING"}
#: sacct's job states that end a job, and what they mean (others: still queued or running)
_ENDED = {"OUT_OF_MEMORY": Cause.OUT_OF_MEMORY, "TIMEOUT": Cause.WALLTIME,
          "DEADLINE": Cause.WALLTIME, "NODE_FAIL": Cause.NODE_FAILURE,
          "BOOT_FAIL": Cause.NODE_FAILURE, "PREEMPTED": Cause.PREEMPTED,
          "CANCELLED": Cause.CANCELLED, "REVOKED": Cause.CANCELLED, "FAILED": Cause.FAILED,
          "COMPLETED": Cause.COMPLETED}
_RUNNING = {"RUNNING", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING", "STAGE_OUT"}


class Slurm(Scheduler):
    """SLURM: arrays from 0, ``%`` throttle changeable live, ``--signal`` before the limit."""

    name = "slurm"
    template = "slurm.sh.j2"
    prefix = "#SBATCH"
    index_var = "SLURM_ARRAY_TASK_ID"
    job_id_var = "SLURM_JOB_ID"
    first_index = 0
    submit_command = ("sbatch", "--parsable")
    submit_pattern = r"^(?P<id>\d+)(;\S+)?$"  # "12345" or "12345;cluster"
    detect_commands = ("sbatch", "squeue")
    log_pattern = "%x_%A_%a.out"
    supports_signal = True
    #: ``--signal`` "may be sent up to 60 seconds earlier than specified" (sbatch(1)); seen
    #: on the test cluster: slurmctld checks every 30 s and sends once the lead + 30 s is due
    signal_early = 60
    validate_command = ("sbatch", "--test-only")  # checks partition, gres, limits; queues nothing
    dependency_option = "--dependency=afterany:{ids}"
    exclusive_directive = "--exclusive"
    planner_template = "slurm-planner.sh.j2"
    transient_errors = (*Scheduler.transient_errors, r"socket timed out",
                        r"unable to contact slurm controller", r"zero bytes were transmitted",
                        r"transport endpoint is not connected",
                        r"slurm temporarily unable to accept job", r"communication connection failure")
    managed_directives = (
        (r"(--time\b|-t\b)", "--walltime"), (r"(--array\b|-a\b)", "--workers / --throttle"),
        (r"(--signal\b)", "--margin"), (r"(--output\b|-o\b|--error\b|-e\b)", "--log-dir"),
        (r"(--job-name\b|-J\b)", "--job-name"), (r"(--chdir\b|-D\b)", "the working folder"),
    )

    # sbatch reads "#SBATCH" lines like a shell word: quotes group, a backslash escapes, an
    # unquoted "#" starts a comment. A backslash in --output/--chdir made the real job fail
    # to launch (SLURM 22.05), so it is refused; "%" in --output is a placeholder ("%%").
    path_unsafe = {"\n": "a line break ends the directive",
                   "\\": "makes the job fail to launch (SLURM reads it as an escape)"}

    supports_throttle = True
    accounting_name = "SLURM accounting (sacct)"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """``SLURM_JOB_ID``; an array element shows in the queue as ``ARRAYID_INDEX``."""
        job_id = env.get(cls.job_id_var)
        if not job_id:
            return None
        array_id, index = env.get("SLURM_ARRAY_JOB_ID"), env.get(cls.index_var)
        queue_id = cls.element_id(array_id, index) if array_id and index else job_id
        return cls._job_record(job_id, array_id, index, queue_id)

    def quote_directive(self, text: str) -> str:
        """Double quotes with ``\\"`` for a quote inside, as sbatch's directive parser reads."""
        if re.fullmatch(r"[\w@%+=:,./\-]*", text):
            return text
        return '"' + text.replace('"', '\\"') + '"'

    def escape_log_folder(self, folder: str) -> str:
        """``%`` is a file-name placeholder of ``--output``: ``%%`` is a literal one."""
        return folder.replace("%", "%%")

    def format_walltime(self, seconds: int) -> str:
        """``D-HH:MM:SS`` from one day on, else ``HH:MM:SS`` (SLURM rounds up to minutes)."""
        days, rest = divmod(int(seconds), 86400)
        hms = super().format_walltime(rest)
        return f"{days}-{hms}" if days else hms

    def queue_args(self) -> list[str]:
        """One ``squeue`` for all of the user's jobs (ids of gone jobs would make it fail)."""
        return ["squeue", "--noheader", "--user", self.user, "--format", "%i|%T"]

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """Lines ``123_4|RUNNING``, ``123_[5-63%8]|PENDING`` or ``124|PENDING``."""
        out = []
        for line in stdout.splitlines():
            if "|" not in line:
                continue
            jid, state = (x.strip() for x in line.split("|", 1))
            m = re.match(r"^(\d+)(?:_(\[?[\d,\-:%]+\]?))?", jid)
            if not m:
                continue
            indices = expand_indices(m.group(2)) if m.group(2) else None
            norm = PENDING if state in _PENDING else RUNNING if state in _RUNNING else DONE
            out.append(QueueEntry(m.group(1), indices, norm, state))
        return out

    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """``scancel ID...``."""
        return ["scancel", *job_ids]

    def cancel_pending_args(self, job_id: str, counts: ArrayCounts) -> list[list[str]]:
        """``scancel --state=PENDING ID`` drops every element not yet started."""
        return [["scancel", "--state=PENDING", job_id]]

    def throttle_args(self, job_id: str, limit: int) -> list[str]:
        """``scontrol update JobId=ID ArrayTaskThrottle=N`` (0 = no limit)."""
        return ["scontrol", "update", f"JobId={job_id}", f"ArrayTaskThrottle={int(limit)}"]

    def max_array_size_args(self) -> list[str]:
        """``scontrol show config`` holds ``MaxArraySize``."""
        return ["scontrol", "show", "config"]

    def parse_max_array_size(self, stdout: str) -> int | None:
        """``MaxArraySize = 1001``: indices 0..1000, so 1001 elements per array."""
        m = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)", stdout, re.M)
        return int(m.group(1)) if m else None

    # -- accounting (sacct) ---------------------------------------------------------------
    def accounting_args(self, array_ids: Sequence[str]) -> list[str] | None:
        """``sacct`` for the allocations (``-X``) of these arrays, one line per element."""
        return ["sacct", "-P", "-n", "-X", "--format=JobID,Submit,Start,End", "-j",
                ",".join(array_ids)]

    def fate_commands(self, queue_ids: Sequence[str]) -> list[list[str]]:
        """One ``sacct`` for every array (or job) of these ids, steps included (their MaxRSS)."""
        heads = sorted({re.split(r"[_.\[]", q, maxsplit=1)[0] for q in queue_ids})
        # without accounting (sacct: "storage is disabled"), slurmctld still knows jobs
        # that ended less than MinJobAge (300 s by default) ago: one scontrol per array
        return [["sacct", "-P", "-n", "--format=JobID,State,ExitCode,MaxRSS", "-j",
                 ",".join(heads)], *(["scontrol", "show", "job", "-o", h] for h in heads)]

    def parse_fates(self, stdout: str) -> dict[str, Fate]:
        """Lines ``123_4|OUT_OF_MEMORY|0:125|`` (the allocation) and ``123_4.batch|...|3906252K``
        (its steps); ``124|CANCELLED by 0|0:0|`` for a job outside an array; pending ranges
        (``123_[5-9]``) and jobs still running are left out."""
        if stdout.startswith("JobId="):
            return _parse_scontrol(stdout)
        states: dict[str, str] = {}
        steps: dict[str, list[tuple[str, int | None]]] = {}
        for line in stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 4 or not re.match(r"^\d+(_\d+)?(\.|$)", parts[0]):
                continue
            job, dot, _ = parts[0].partition(".")
            if dot:
                steps.setdefault(job, []).append((parts[1].split()[0] if parts[1] else "",
                                                  parse_size(parts[3])))
            else:
                states[job] = parts[1]
        out = {}
        for job, state in states.items():
            fate = _fate_of(state, steps.get(job, []))
            if fate is not None:
                out[job] = fate
        return out

    def parse_accounting(self, stdout: str) -> dict[tuple[str, str], Elapsed]:
        """Array elements of ``sacct -P -n --format=JobID,Submit,Start,End`` output."""
        out = {}
        for line in stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 4 or "." in parts[0] or "_" not in parts[0]:
                continue  # job steps (.batch) and non-array jobs
            array, _, index = parts[0].partition("_")
            if not index.isdigit():
                continue  # a pending range such as 12_[3-9]
            submit, start, end = (_stamp(p) for p in parts[1:4])
            if submit is None or start is None:
                continue
            out[(array, index)] = Elapsed(submit, start, end)
        return out


def _fate_of(state: str, steps: list[tuple[str, int | None]]) -> Fate | None:
    """The allocation's state (``CANCELLED by 0``: cancelled by root), made more precise by
    its steps: a step killed for memory makes the whole job out of memory (with cgroups the
    allocation often says only FAILED)."""
    word = state.split()[0].rstrip("+") if state.strip() else ""
    cause = _ENDED.get(word)
    if any(s == "OUT_OF_MEMORY" for s, _ in steps):
        cause, state = Cause.OUT_OF_MEMORY, "OUT_OF_MEMORY"
    if cause is None:
        return None
    peaks = [m for _, m in steps if m]
    return Fate(cause, state.strip(), max(peaks) if peaks else None)


def _parse_scontrol(stdout: str) -> dict[str, Fate]:
    """``scontrol show job -o``: one line per job, ``JobState=CANCELLED`` among its fields
    (no memory figure)."""
    out = {}
    for line in stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        array, index = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        key = f"{array}_{index}" if array and index and index.isdigit() else fields.get("JobId")
        fate = _fate_of(fields.get("JobState", ""), [])
        if key and fate is not None:
            out[key] = fate
    return out


def _stamp(text: str) -> float | None:
    """Seconds since the epoch of a sacct time (``Unknown``/``None`` -> None)."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        return None
