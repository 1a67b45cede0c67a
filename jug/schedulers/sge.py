"""SGE facts: ``#$``, ``-t 1-N`` with ``-tc``, ``SGE_TASK_ID``, ``qsub -terse``, ``-l s_rt``."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from .base import (
    DONE,
    PENDING,
    RUNNING,
    ArrayCounts,
    QueueEntry,
    Scheduler,
    SchedulerError,
    UnexpressiblePath,
    expand_indices,
    index_runs,
)
from .fate import Fate
from .fate_parsers import parse_qacct


class SGE(Scheduler):
    """Son of Grid Engine / Univa / Altair GE: arrays from 1, throttle via ``-tc``."""

    name = "sge"
    template = "sge.sh.j2"
    prefix = "#$"
    index_var = "SGE_TASK_ID"
    job_id_var = "JOB_ID"
    first_index = 1
    submit_command = ("qsub", "-terse")
    submit_pattern = r"^(?P<id>\d+)(\.\S+)?$"  # "4711" or "4711.1-64:1"
    detect_commands = ("qsub", "qconf")
    log_pattern = "$JOB_NAME_$JOB_ID_$TASK_ID.out"
    supports_signal = True  # -l s_rt sends SIGUSR1
    signal_early = 0  # s_rt is exact to the second on SGE 8.1.9 (never early)
    signal_name = "SIGUSR1 (s_rt)"
    #: "verify": checks queues, resources (complexes) and PEs against an empty cluster
    validate_command = ("qsub", "-w", "v")
    supports_throttle = True
    walltime_signals_kill = True  # SIGUSR1 (s_rt) and SIGUSR2 (qsub -notify)
    own_settings = ("parallel_env",)  # -pe NAME SLOTS
    dependency_option = "-hold_jid {ids}"
    exclusive_directive = "-l exclusive=true"  # the usual complex of exclusive hosts
    dependency_separator = ","
    planner_template = "sge-planner.sh.j2"
    transient_errors = (*Scheduler.transient_errors, r"unable to contact qmaster",
                        r"commlib error", r"failed receiving gdi request",
                        r"unable to send message to qmaster")
    managed_directives = (
        (r"-l\s+.*\b[hs]_rt\b", "--walltime / --margin"), (r"-t\b", "--workers"),
        (r"-tc\b", "--throttle"), (r"-[oej]\b", "--log-dir"), (r"-N\b", "--job-name"),
        (r"-(wd|cwd)\b", "the working folder"),
    )

    # qsub reads "#$" lines splitting on blanks outside double quotes, but it drops every quote
    # character and cuts the line at "#"; -o takes [host:]path[,...] and expands $HOME, $USER,
    # $JOB_ID, $JOB_NAME, $HOSTNAME and $TASK_ID (all seen on SGE 8.1.9).
    path_unsafe = {"\n": "a line break ends the directive",
                   "'": "is dropped by SGE's directive parser", '"': "is dropped by SGE's "
                   "directive parser", "#": "starts a comment in an SGE directive"}
    log_unsafe = {":": "is read as host:path by -o", ",": "separates paths in -o"}

    def escape_log_folder(self, folder: str) -> str:
        """Refuse a folder that names one of ``-o``'s pseudo variables (it would be expanded)."""
        m = re.search(r"\$(HOME|USER|JOB_ID|JOB_NAME|HOSTNAME|TASK_ID)", folder)
        if m:
            raise UnexpressiblePath(f"sge cannot take the path {folder!r} in a #$ -o directive: "
                                    f"{m.group(0)} is expanded by SGE. Use a folder without it "
                                    f"(e.g. --log-dir)")
        return folder

    def array_spec(self, size: int, throttle: int | None = None) -> str:
        """``1-N``; the throttle is a separate ``-tc`` directive."""
        return f"{self.first_index}-{self.first_index + size - 1}"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """``JOB_ID`` with an SGE variable beside it (other systems set ``JOB_ID`` too);
        ``SGE_TASK_ID`` is ``undefined`` outside an array."""
        job_id = env.get(cls.job_id_var)
        if not job_id or not any(v in env for v in ("SGE_TASK_ID", "SGE_ROOT", "SGE_CELL")):
            return None
        index = env.get(cls.index_var)
        if index in (None, "undefined"):
            index = None
        queue_id = cls.element_id(job_id, index) if index else job_id
        return cls._job_record(job_id, job_id, index, queue_id)

    @staticmethod
    def element_id(array_id: str, index: int | str) -> str:
        """``4711.3``, as lock owners record it."""
        return f"{array_id}.{index}"

    def fate_commands(self, queue_ids: Sequence[str]) -> list[list[str]]:
        """``qacct -j ID`` per array (qacct takes one job per call): never one per task."""
        return [["qacct", "-j", h] for h in sorted({q.split(".")[0] for q in queue_ids})]

    def parse_fates(self, stdout: str) -> dict[str, Fate]:
        """The records of ``qacct -j`` (see :mod:`jug.schedulers.fate_parsers`)."""
        return parse_qacct(stdout)

    def queue_args(self) -> list[str]:
        """``qstat -u USER -xml``: one call, machine-readable, pending ranges collapsed."""
        return ["qstat", "-u", self.user, "-xml"]

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """Each ``job_list`` is one running task or a collapsed range of pending tasks."""
        if not stdout.strip():
            return []
        import xml.etree.ElementTree as ET  # only the loop parses the queue

        root = ET.fromstring(stdout)
        out = []
        for job in root.iter("job_list"):
            jid = (job.findtext("JB_job_number") or "").strip()
            state = (job.findtext("state") or "").strip()
            tasks = (job.findtext("tasks") or "").strip()
            indices = expand_indices(tasks) if tasks else None
            if "d" in state or "E" in state:  # being deleted, or in error (never runs)
                norm = DONE
            elif "r" in state or "t" in state or "s" in state.lower():
                norm = RUNNING
            elif "q" in state or "w" in state or "h" in state:
                norm = PENDING
            else:
                norm = DONE
            out.append(QueueEntry(jid, indices, norm, state))
        return out

    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """``qdel ID...``."""
        return ["qdel", *job_ids]

    def cancel_pending_args(self, job_id: str, counts: ArrayCounts) -> list[list[str]]:
        """``qdel ID -t a-b`` for each pending range."""
        cmds = []
        for e in counts.entries:
            if e.state == PENDING and e.indices:
                for lo, hi in index_runs(e.indices):
                    cmds.append(["qdel", job_id, "-t", f"{lo}-{hi}"])
        return cmds

    def cancel_elements_args(self, job_id: str, indices: Sequence[int]) -> list[list[str]]:
        """``qdel ID -t a-b`` for each run of the given elements."""
        return [["qdel", job_id, "-t", f"{lo}-{hi}"] for lo, hi in index_runs(list(indices))]

    def throttle_args(self, job_id: str, limit: int) -> list[str]:
        """``qalter -tc N ID``."""
        return ["qalter", "-tc", str(int(limit)), job_id]

    def submit_hosts_probe(self) -> bool | None:
        """False if an execution host is not a submit host (``qconf -sel`` vs ``qconf -ss``)."""
        try:
            execs = self._run(["qconf", "-sel"], "sge execution host list").stdout.split()
            submits = self._run(["qconf", "-ss"], "sge submit host list").stdout.split()
        except SchedulerError:
            return None
        short = {h.split(".")[0] for h in submits}
        return all(h.split(".")[0] in short for h in execs) if execs else None

    def max_array_size_args(self) -> list[str]:
        """``qconf -sconf`` holds ``max_aj_tasks``."""
        return ["qconf", "-sconf"]

    def parse_max_array_size(self, stdout: str) -> int | None:
        """``max_aj_tasks 75000`` (0 = unlimited)."""
        m = re.search(r"^max_aj_tasks\s+(\d+)", stdout, re.M)
        return int(m.group(1)) if m and int(m.group(1)) > 0 else None
