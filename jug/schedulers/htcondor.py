"""HTCondor facts: a submit description with ``queue N``, ``$(Process)`` from 0, ``condor_q -json``.

HTCondor has no directives inside a job script: ``condor_submit`` reads a *submit
description*.  jug keeps one rendered file per array all the same: the job script carries the
description as ``#HTCONDOR key = value`` lines (a comment to bash), and :meth:`HTCondor.submit`
writes them, after ``executable = <the script>``, to ``<script>.sub`` beside it, which is what
``condor_submit -terse`` reads.  Workers run in the vanilla universe on a shared filesystem
(``should_transfer_files = NO``, ``initialdir``), as every other adapter's do.

State comes from the ``condor_q -json`` command line rather than the ``htcondor`` Python
bindings: the bindings must match the pool's HTCondor version and are often not installed
(they are not here), while ``condor_q`` is on every submit host; one call with a projection
(``-attributes``) is as cheap for the schedd as a bindings query.
"""

from __future__ import annotations

import json
import os
import re
import stat
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
)

#: JobStatus codes of a job ClassAd, as condor_q's ST column shows them
STATUS_LETTERS = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}
#: held jobs that will run once released by the user (not an error): HoldReasonCode
#: 1 = held by the user (condor_hold), 16 = waiting for its input files to be spooled
_USER_HOLDS = {1, 16}
#: how the walltime reaches HTCondor (the ``condor-walltime`` setting)
WALLTIME_STYLES = ("both", "periodic-remove", "max-runtime")
#: the attributes the queue query asks for (a projection: the schedd sends only these)
QUEUE_ATTRIBUTES = ("ClusterId", "ProcId", "JobStatus", "HoldReasonCode", "TotalSubmitProcs",
                    "JobMaterializeNextProcId")


def walltime_style(value: Any) -> str:
    """``both`` (default), ``periodic-remove`` or ``max-runtime``; UnsupportedSetting else."""
    style = str(value or "both").strip().lower().replace("_", "-").lstrip("+")
    style = {"maxruntime": "max-runtime", "periodicremove": "periodic-remove"}.get(style, style)
    if style not in WALLTIME_STYLES:
        raise UnsupportedSetting(f"condor-walltime '{value}': write one of "
                                 f"{', '.join(WALLTIME_STYLES)}")
    return style


class HTCondor(Scheduler):
    """HTCondor: one cluster per array, procs from 0, each a late materialization factory
    whose ``max_materialize`` is the throttle (``condor_qedit`` changes it live); no job
    dependencies (the ``--until-done`` planner waits in the local universe); no signal
    before the walltime (periodic_remove sends SIGTERM at it)."""

    name = "htcondor"
    template = "htcondor.sh.j2"
    planner_template = "htcondor-planner.sh.j2"
    prefix = "#HTCONDOR"
    index_var = "HTCONDOR_PROCID"  # HTCondor sets no such variable: the description does
    job_id_var = "HTCONDOR_JOBID"  # "1234.5", also set by the description's environment
    first_index = 0
    submit_command = ("condor_submit", "-terse")
    submit_pattern = r"^(?P<id>\d+)\.\d+ - \d+\.\d+$"  # "1234.0 - 1234.9"
    detect_commands = ("condor_submit", "condor_q")
    log_pattern = "$(Cluster)_$(Process)"  # + .out / .err; the template adds the job name
    # every array is a factory (max_materialize = throttle or size): the schedd reads the
    # limit from the cluster ad (JobMaterializeLimit), which condor_qedit edits live
    supports_throttle = True
    own_settings = ("condor_walltime",)  # periodic_remove, +MaxRuntime or both
    dependency_option = "{ids}"  # the clusters the planner job waits for, in its script
    dependency_separator = " "
    managed_directives = (
        (r"queue\b", "--workers"), (r"executable\b", "the job script"),
        (r"(output|error|log)\s*=", "--log-dir"), (r"initialdir\b", "the working folder"),
        (r"(periodic_remove|\+?MaxRuntime)\b", "--walltime (and condor-walltime)"),
        (r"max_(materialize|idle)\b", "--throttle"), (r"batch_name\b", "--job-name"),
        (r"environment\b", "env: in a profile"), (r"(universe|should_transfer_files)\b",
                                                  "nothing: workers need the shared filesystem"),
    )

    # A submit description value runs to the end of its line and expands $(...) macros; no
    # HTCondor could be tried here, so what its parser could read otherwise is refused.
    path_unsafe = {"\n": "a line break ends the submit command",
                   "$": "starts a macro ($(...)) in a submit description",
                   " ": "may split or be trimmed in a submit description value",
                   "\t": "may split or be trimmed in a submit description value",
                   '"': "is a quote in a submit description", "'": "is a quote in a submit "
                   "description", "#": "may start a comment in a submit description"}

    def quote_directive(self, text: str) -> str:
        """Bare: what would need quotes is refused (see ``path_unsafe``)."""
        return text

    # -- settings ---------------------------------------------------------------------------
    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """No queues in HTCondor; a known walltime style."""
        walltime_style(settings.get("condor_walltime"))
        if settings.get("queue"):
            raise UnsupportedSetting(
                f"HTCondor has no queues or partitions (got --queue {settings['queue']}): "
                f"drop it and choose machines with e.g. --directive 'requirements = ...'")

    def format_memory(self, mbytes: int) -> str:
        """``request_memory`` in MiB, a bare number."""
        return str(int(mbytes))

    def array_spec(self, size: int, throttle: int | None = None) -> str:
        """The ``queue`` count (the throttle is ``max_materialize``)."""
        return str(size)

    def throttle_args(self, job_id: str, limit: int) -> list[str]:
        """``condor_qedit CLUSTER JobMaterializeLimit N``: the factory's cluster ad, which
        the schedd reads when it materializes the next procs."""
        return ["condor_qedit", self.short_id(job_id), "JobMaterializeLimit",
                str(max(1, int(limit)))]

    def template_context(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """How the walltime is written, and the variables the description sets."""
        ids = f"{self.job_id_var}=$(Cluster).$(Process) {self.index_var}=$(Process)"
        return {"condor_walltime": walltime_style(self.settings.get("condor_walltime")),
                "job_variables": ids, "job_id_var": self.job_id_var}

    # -- jobs -------------------------------------------------------------------------------
    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """``HTCONDOR_JOBID`` (``1234.5``) and ``HTCONDOR_PROCID``, set by the description's
        ``environment`` (HTCondor itself names no job id in a vanilla job's environment)."""
        job_id = env.get(cls.job_id_var)
        if not job_id:
            return None
        cluster, _, proc = job_id.partition(".")
        index = env.get(cls.index_var) or proc or None
        return cls._job_record(job_id, cluster, index, job_id)

    @staticmethod
    def element_id(array_id: str, index: int | str) -> str:
        """``1234.5`` (cluster.proc)."""
        return f"{array_id}.{index}"

    @staticmethod
    def description_path(script: str) -> str:
        """Where the submit description of ``script`` is written (beside it, ``.sub``)."""
        return os.path.splitext(script)[0] + ".sub"

    def description(self, script: str) -> str:
        """The submit description of ``script``: ``executable``, its ``#HTCONDOR`` lines,
        ``queue`` last (a raw ``--directive`` line comes after the template's own)."""
        marker = self.prefix + " "
        with open(script) as f:
            lines = [ln[len(marker):].strip() for ln in f if ln.startswith(marker)]
        queue = [ln for ln in lines if re.match(r"queue\b", ln, re.I)] or ["queue"]
        body = [ln for ln in lines if not re.match(r"queue\b", ln, re.I)]
        return "\n".join([f"executable = {script}", *body, queue[-1]]) + "\n"

    def submit_args(self, script: str) -> list[str]:
        """``condor_submit -terse SCRIPT.sub``."""
        return [*self.submit_command, self.description_path(script)]

    def submit(self, script: str, cwd: str | None = None) -> str:
        """Write the submit description beside the script, then submit it.  The script is
        the job's executable: HTCondor holds a job whose executable lacks the x bit."""
        self.directive_path(script)  # a script path the description could not hold: refuse
        try:
            os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
            with open(self.description_path(script), "w") as f:
                f.write(self.description(script))
        except OSError as e:
            raise SchedulerError(f"cannot write the submit description of {script}: "
                                 f"{e.strerror}; nothing was submitted")
        return super().submit(script, cwd)

    def queue_args(self) -> list[str]:
        """One ``condor_q`` for every job of the user, as JSON, only the needed attributes."""
        return ["condor_q", "-json", "-attributes", ",".join(QUEUE_ATTRIBUTES),
                "-constraint", f'Owner == "{self.user}"']

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """A JSON list of job ads (nothing at all when the queue is empty); the procs a
        throttled cluster (late materialization) has not materialized yet count as pending:
        ``TotalSubmitProcs`` and ``JobMaterializeNextProcId`` of its cluster ad show how many."""
        text = stdout.strip()
        if not text:
            return []
        try:
            ads = json.loads(text)
        except ValueError:
            shown = "\n  ".join(text.splitlines()[:5])
            raise SchedulerError(f"cannot read the output of condor_q -json:\n  {shown}")
        out = [e for ad in ads if (e := _entry(ad)) is not None]
        return out + _unmaterialized(ads)

    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """``condor_rm ID...`` (a cluster id removes every proc, and its factory)."""
        return ["condor_rm", *job_ids]

    def cancel_pending_args(self, job_id: str, counts: ArrayCounts) -> list[list[str]]:
        """The idle (and user-held) procs by id; with procs not materialized yet, the whole
        cluster if none runs (else those procs still come, and meet the stop file)."""
        short = self.short_id(job_id)
        late = any(e.raw_state == "unmaterialized" for e in counts.entries)
        if late and not counts.running:
            return [self.cancel_args([short])]
        ids = [self.element_id(short, i) for e in counts.entries
               if e.state == PENDING and e.raw_state != "unmaterialized" for i in e.indices or []]
        return [self.cancel_args(ids)] if ids else []

    def cancel_elements_args(self, job_id: str, indices: Sequence[int]) -> list[list[str]]:
        """``condor_rm 1234.3 1234.7``."""
        ids = [self.element_id(self.short_id(job_id), i) for i in indices]
        return [self.cancel_args(ids)] if ids else []


def _entry(ad: Mapping[str, Any]) -> QueueEntry | None:
    """One proc: running (also transferring output or suspended), pending (idle, or held by
    the user), done (removed, completed, or held by HTCondor: it will not run by itself)."""
    try:
        cluster, proc, status = int(ad["ClusterId"]), int(ad["ProcId"]), int(ad["JobStatus"])
    except (KeyError, TypeError, ValueError):
        return None
    if status in (2, 6, 7):
        norm = RUNNING
    elif status == 1 or (status == 5 and ad.get("HoldReasonCode") in _USER_HOLDS):
        norm = PENDING
    else:
        norm = DONE
    return QueueEntry(str(cluster), [proc], norm, STATUS_LETTERS.get(status, str(status)))


def _unmaterialized(ads: Sequence[Mapping[str, Any]]) -> list[QueueEntry]:
    """One pending entry per late-materialization cluster for the procs still to come."""
    nxt: dict[int, tuple[int, int]] = {}
    for ad in ads:
        try:
            cluster = int(ad["ClusterId"])
            total, next_id = int(ad["TotalSubmitProcs"]), int(ad["JobMaterializeNextProcId"])
        except (KeyError, TypeError, ValueError):
            continue
        prev = nxt.get(cluster, (0, 0))
        nxt[cluster] = (max(prev[0], total), max(prev[1], next_id))
    return [QueueEntry(str(c), list(range(n, t)), PENDING, "unmaterialized")
            for c, (t, n) in sorted(nxt.items()) if n < t]
