"""PBS facts: ``#PBS``; PBS Pro/OpenPBS ``-J 0-N%T`` + ``PBS_ARRAY_INDEX``, Torque ``-t`` + ``PBS_ARRAYID``."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from .base import DONE, PENDING, RUNNING, QueueEntry, Scheduler
from .fate import Fate
from .fate_parsers import parse_qstat_full

_PENDING = set("QHWTSU")  # queued, held, waiting, transit, suspended (Pro), user-suspended
_RUNNING = set("RBE")  # running, array begun, exiting (still holds the node)


class PBS(Scheduler):
    """PBS Professional / OpenPBS (the ``pro`` dialect); Torque is a subclass."""

    supports_throttle = True
    max_job_name = 15

    name = "pbs"
    template = "pbs.sh.j2"
    prefix = "#PBS"
    index_var = "PBS_ARRAY_INDEX"
    job_id_var = "PBS_JOBID"
    array_flag = "-J"
    first_index = 0
    submit_command = ("qsub",)
    # "1234.server", "1234[].server"; banners of site wrappers are skipped (last match wins)
    submit_pattern = r"^(?P<id>\d+(\[\])?(\.[\w.\-]+)?)$"
    detect_commands = ("qsub", "pbsnodes")
    log_pattern = ""  # PBS takes a directory for -o; it names the files itself
    dependency_option = "-W depend=afterany:{ids}"
    exclusive_directive = "-l place=excl"
    planner_template = "pbs-planner.sh.j2"
    transient_errors = (*Scheduler.transient_errors, r"cannot connect to (pbs )?server",
                        r"pbs_iff: cannot", r"end of file", r"premature end of message",
                        r"communication failure", r"server not available")
    managed_directives = (
        (r"-l\s+.*\bwalltime\b", "--walltime"), (r"-[Jt]\b", "--workers / --throttle"),
        (r"-[oej]\b", "--log-dir"), (r"-N\b", "--job-name"),
    )

    # No real PBS could be tried here, and PBS's -o takes [host:]path: a path is written bare
    # and anything a directive parser might split or cut it at is refused.
    path_unsafe = {"\n": "a line break ends the directive", " ": "would split the -o path",
                   "\t": "would split the -o path", '"': "is a quote in a PBS directive",
                   "'": "is a quote in a PBS directive", "#": "may start a comment",
                   "\\": "is an escape character in a PBS directive"}
    log_unsafe = {":": "is read as host:path by -o", ",": "separates paths in -o"}
    chdir_directive = False
    #: PBS (Pro, OpenPBS, Torque) has no dry validation: qsub either queues a job or refuses
    #: it, so a bad resource request shows only when the script is submitted
    validate_command = None

    def quote_directive(self, text: str) -> str:
        """Bare: the characters that would need quotes are refused (see ``path_unsafe``)."""
        return text

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """``PBS_JOBID`` (already the element's queue id, ``1234[7].server``); PBS Pro's
        ``PBS_ARRAY_INDEX`` or Torque's ``PBS_ARRAYID``.  Both are recorded as ``pbs``."""
        job_id = env.get(PBS.job_id_var)
        if not job_id:
            return None
        index = env.get(PBS.index_var) or env.get(Torque.index_var)
        return PBS._job_record(job_id, env.get("PBS_ARRAY_ID"), index, job_id)

    @staticmethod
    def element_id(array_id: str, index: int | str) -> str:
        """``1234[7].server`` from ``1234[].server``."""
        if "[]" in array_id:
            return array_id.replace("[]", f"[{index}]", 1)
        head, dot, tail = array_id.partition(".")
        return f"{head}[{index}]{dot}{tail}"

    #: exit statuses above this are signals (PBS Pro 256; Torque 128)
    signal_base = 256

    def fate_commands(self, queue_ids: Sequence[str]) -> list[list[str]]:
        """One ``qstat -x -f -t`` for all these jobs (finished ones included)."""
        return [["qstat", "-x", "-f", "-t", *sorted(set(queue_ids))]]

    def parse_fates(self, stdout: str) -> dict[str, Fate]:
        """The records of ``qstat -x -f`` (see :mod:`jug.schedulers.fate_parsers`)."""
        return parse_qstat_full(stdout, self.signal_base)

    def queue_args(self) -> list[str]:
        """``qstat -t -u USER``: one call, array elements expanded."""
        return ["qstat", "-t", "-u", self.user]

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """Read the fixed-width table: column spans from the dashes line, state from column S."""
        lines = stdout.splitlines()
        dash = next((i for i, ln in enumerate(lines) if re.match(r"^-+(\s+-+)+\s*$", ln)), None)
        if dash is None or dash == 0:
            return []
        spans = [m.span() for m in re.finditer(r"-+", lines[dash])]
        header = lines[dash - 1]
        names = [header[a:b if k + 1 < len(spans) else None].strip()
                 for k, (a, b) in enumerate(spans)]
        s_col = max((k for k, n in enumerate(names) if n == "S"), default=None)
        if s_col is None:
            return []
        parents: dict[str, QueueEntry] = {}
        elements: list[QueueEntry] = []
        for ln in lines[dash + 1:]:
            if not ln.strip():
                continue
            tokens = ln.split()
            jid = tokens[0]
            if len(tokens) == len(names):  # every column filled: tokens survive misalignment
                state = tokens[s_col]
            else:
                a, b = spans[s_col]
                state = ln[a:b].strip()
            if not state:
                continue
            m = re.match(r"^(\d+)(?:\[(\d*)\])?", jid)
            if not m:
                continue
            norm = PENDING if state in _PENDING else RUNNING if state in _RUNNING else DONE
            if m.group(2) is None:  # a plain job
                elements.append(QueueEntry(m.group(1), None, norm, state))
            elif m.group(2) == "":  # the array parent: only counts if no element is listed
                parents[m.group(1)] = QueueEntry(m.group(1), None, norm, state)
            else:
                elements.append(QueueEntry(m.group(1), [int(m.group(2))], norm, state))
        listed = {e.array_id for e in elements}
        return elements + [p for k, p in parents.items() if k not in listed]

    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """``qdel ID...`` (``1234[]`` cancels the whole array)."""
        return ["qdel", *job_ids]

    def throttle_args(self, job_id: str, limit: int) -> list[str] | None:
        """``qalter -Wmax_run_subjobs=N ID`` (recent PBS Pro / OpenPBS)."""
        return ["qalter", f"-Wmax_run_subjobs={int(limit)}", job_id]

    def max_array_size_args(self) -> list[str]:
        """``qstat -Bf`` shows the server's ``max_array_size``."""
        return ["qstat", "-Bf"]

    def parse_max_array_size(self, stdout: str) -> int | None:
        """``max_array_size = 10000`` (Torque: ``max_job_array_size``)."""
        m = re.search(r"^\s*max_(?:job_)?array_size\s*=\s*(\d+)", stdout, re.M)
        return int(m.group(1)) if m else None

    def format_memory(self, mbytes: int) -> str:
        """PBS writes ``4gb`` / ``500mb``."""
        return f"{mbytes // 1024}gb" if mbytes % 1024 == 0 else f"{mbytes}mb"

    def template_context(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """The array flag (``-J``; Torque ``-t``)."""
        return {"array_flag": self.array_flag}


class Torque(PBS):
    """Torque / PBS classic (Moab): ``-t`` arrays, ``PBS_ARRAYID``, ``nodes=1:ppn=C``."""

    name = "torque"
    template = "torque.sh.j2"

    def fate_commands(self, queue_ids: Sequence[str]) -> list[list[str]]:
        """Torque has no ``-x``: finished jobs stay listed (``job_state = C``) for the
        server's ``keep_completed`` seconds."""
        return [["qstat", "-f", "-t", *sorted(set(queue_ids))]]

    planner_template = "torque-planner.sh.j2"
    index_var = "PBS_ARRAYID"
    array_flag = "-t"
    exclusive_directive = "-n"  # node-exclusive (Torque qsub -n)
    detect_commands = ("qsub", "pbsnodes", "momctl")
    supports_throttle = False  # the slot limit of a live array cannot be changed

    def throttle_args(self, job_id: str, limit: int) -> list[str] | None:
        """Torque cannot change the slot limit of a live array."""
        return None
