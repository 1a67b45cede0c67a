"""The scheduler adapter base class: everything the batch systems have in common.

Each scheduler module (``slurm.py``, ``pbs.py``, ``sge.py``, ``lsf.py``, ``htcondor.py``) is a
subclass that only states its facts (directive prefix, array flag, index variable, commands,
output formats).  The shared logic lives here: running a command with useful errors, parsing
the submit output with an overridable regex, one queue query for every array, cancel, live
throttle, array splitting.
The resubmit loop (``jug submit --watch``) drives schedulers only through this interface.
"""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable, Mapping, Sequence

from .fate import Fate


class SchedulerError(Exception):
    """A scheduler command is missing, failed, or printed something we cannot parse."""

    def line(self) -> str:
        """One line saying what went wrong, for records and status lines."""
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__


class UnexpressiblePath(ValueError):
    """A path that this scheduler's directive syntax cannot hold (refused before submitting)."""


class UnsupportedSetting(ValueError):
    """A setting this scheduler cannot express (refused before submitting, one clear line)."""


class CommandMissing(SchedulerError):
    """A scheduler command is not on PATH (so it certainly submitted nothing)."""


class CommandTimeout(SchedulerError):
    """A scheduler command did not answer in time (the scheduler is busy or unreachable)."""


class ErrorKind(str, Enum):
    """Whether a scheduler error may go away by itself (:meth:`Scheduler.error_kind`)."""

    TRANSIENT = "transient"  # the scheduler did not answer: asking again later may work
    PERMANENT = "permanent"  # the request itself is refused: asking again will not help


class CommandFailed(SchedulerError):
    """A scheduler command exited non-zero; carries the command, exit code and output."""

    def __init__(self, cmd: Sequence[str], returncode: int, stdout: str, stderr: str,
                 what: str = "") -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        lines = [f"{what or 'command'} failed (exit code {returncode}): {' '.join(self.cmd)}"]
        if stderr.strip():
            lines.append("stderr:\n  " + "\n  ".join(stderr.strip().splitlines()))
        if stdout.strip():
            lines.append("stdout:\n  " + "\n  ".join(stdout.strip().splitlines()))
        super().__init__("\n".join(lines))

    def line(self) -> str:
        """The scheduler's own first words (``squeue: ... Socket timed out``), else the
        command and its exit code."""
        said = next((ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines()
                     if ln.strip()), "")
        if not said:
            return super().line()
        name = self.cmd[0].rsplit("/", 1)[-1] if self.cmd else ""
        return said if not name or said.startswith(name) else f"{name}: {said}"


# Normalised states of one array element (or a collapsed range of pending elements).
PENDING = "pending"
RUNNING = "running"
DONE = "done"  # finished, failed, completing, being deleted: not a live worker any more


@dataclass
class QueueEntry:
    """One line of the queue: an element of an array (or a range of pending elements)."""

    array_id: str  # the short id the array was submitted as (e.g. "1234")
    indices: list[int] | None  # element indices this line stands for; None = whole job
    state: str  # PENDING, RUNNING or DONE
    raw_state: str  # the scheduler's own state code

    @property
    def count(self) -> int:
        """How many workers this line stands for."""
        return 1 if self.indices is None else len(self.indices)


@dataclass
class ArrayCounts:
    """Live workers of one submitted array, from a single queue query."""

    pending: int = 0
    running: int = 0
    entries: list[QueueEntry] = field(default_factory=list)

    @property
    def alive(self) -> int:
        """Workers that still run or will run."""
        return self.pending + self.running


def tally(entries: Iterable[QueueEntry], job_ids: Iterable[str],
          short_id: Callable[[str], str]) -> dict[str, ArrayCounts]:
    """Pending and running elements of each array of ``job_ids``, from one queue listing."""
    wanted = {short_id(j): j for j in job_ids}
    counts = {j: ArrayCounts() for j in wanted.values()}
    for entry in entries:
        full = wanted.get(entry.array_id)
        if full is None:
            continue
        c = counts[full]
        c.entries.append(entry)
        if entry.state == PENDING:
            c.pending += entry.count
        elif entry.state == RUNNING:
            c.running += entry.count
    return counts


@dataclass(frozen=True)
class Elapsed:
    """One array element as the scheduler's accounting saw it (seconds since the epoch)."""

    submit: float
    start: float
    end: float | None


def expand_indices(text: str) -> list[int]:
    """Expand an index list such as ``3-7:2,9`` or ``[2-5%3]`` into the indices it names."""
    text = text.strip().strip("[]")
    text = text.split("%", 1)[0]  # SLURM throttle suffix
    out: list[int] = []
    for part in filter(None, text.split(",")):
        step = 1
        if ":" in part:
            part, step_txt = part.split(":", 1)
            step = int(step_txt)
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1, step))
        else:
            out.append(int(part))
    return out


def index_runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of the indices, sorted, as (first, last) pairs (``qdel -t a-b``,
    ``bkill "ID[a-b,c]"`` name elements by runs)."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def split_sizes(total: int, limit: int | None) -> list[int]:
    """Split ``total`` workers into arrays of at most ``limit`` elements (None: one array;
    none for zero: the watch loop may have nothing to submit)."""
    if total <= 0:
        return []
    if not limit or limit >= total:
        return [total]
    sizes = [limit] * (total // limit)
    if total % limit:
        sizes.append(total % limit)
    return sizes


class Scheduler:
    """Base adapter: subclasses set the class attributes and override the few parsers."""

    name: str = "?"
    template: str = "?"  # the Jinja2 template rendering this scheduler's job script
    prefix: str = "#"  # directive prefix
    index_var: str = ""  # environment variable holding the element index
    job_id_var: str = ""  # environment variable holding the element's own job id
    first_index: int = 0  # first array index (SGE starts at 1)
    submit_command: tuple[str, ...] = ()
    submit_pattern: str = r"(?P<id>\S+)"  # applied to each output line, last match wins
    #: commands whose presence on PATH suggests this scheduler (all must be present)
    detect_commands: tuple[str, ...] = ()
    #: the log file name pattern (the scheduler's own placeholders), relative to the log dir;
    #: the job templates write it (``log_pattern`` in their context)
    log_pattern: str = ""
    #: the running-elements limit of a live array can be changed (``throttle_args``)
    supports_throttle: bool = False
    #: longest job name the scheduler takes (None: no limit worth enforcing)
    max_job_name: int | None = None
    #: the scheduler announces the walltime with signals that kill Python by default (SGE's
    #: SIGUSR1/SIGUSR2): workers run through an entry point that turns them into SIGTERM
    walltime_signals_kill: bool = False
    #: raw directives that would contradict what jug sets itself: (regex, jug's option)
    managed_directives: tuple[tuple[str, str], ...] = ()
    supports_signal: bool = False  # a pre-walltime signal to the batch shell
    #: how many seconds before the asked time the pre-walltime signal may arrive
    signal_early: int = 0
    signal_name: str = "SIGTERM"  # what the pre-walltime signal is, in the dry run
    #: the directive making a job wait until jobs ``{ids}`` ended (whatever their exit status)
    dependency_option: str = ""
    dependency_separator: str = ":"  # between the ids in ``dependency_option``
    planner_template: str = "?"  # the template of ``--until-done``'s small planner job
    #: what this scheduler's commands print when it did not answer (regular expressions,
    #: case-insensitive): errors that go away by themselves (:meth:`error_kind`)
    transient_errors: tuple[str, ...] = (
        r"timed? ?out", r"connection refused", r"connection reset",
        r"temporarily unavailable", r"try again later")
    #: what the accounting report calls this scheduler's accounting (empty: it has none
    #: jug reads; ``accounting_args`` says how to ask it)
    accounting_name: str = ""
    #: the directive (without prefix) asking for whole nodes (profile ``exclusive: true``)
    exclusive_directive: str = ""
    #: ``jug submit`` settings only this scheduler uses (the dry run shows them only here)
    own_settings: tuple[str, ...] = ()

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        settings = dict(settings or {})
        self.settings = settings
        if settings.get("submit_pattern"):
            self.submit_pattern = str(settings["submit_pattern"])
        if settings.get("submit_command"):
            cmd = settings["submit_command"]
            self.submit_command = tuple(cmd.split() if isinstance(cmd, str) else cmd)
        self.user = str(settings.get("user") or getpass.getuser())
        self._max_array_size: int | None = None

    # -- settings -----------------------------------------------------------------------
    def effective_walltime(self, seconds: int) -> int:
        """The walltime this scheduler will really enforce for ``seconds`` asked (the budget
        is derived from it); LSF's ``-W`` takes whole minutes. UnsupportedSetting if none."""
        return seconds

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Refuse settings this scheduler cannot express (UnsupportedSetting, one line)."""

    # -- formats ------------------------------------------------------------------------
    def format_walltime(self, seconds: int) -> str:
        """Walltime as ``HH:MM:SS`` (hours may exceed 24); SLURM overrides with days."""
        h, rest = divmod(int(seconds), 3600)
        m, s = divmod(rest, 60)
        return f"{h:02d}:{m:02d}:{s:02d}"

    def format_memory(self, mbytes: int) -> str:
        """Memory in megabytes as this scheduler writes it (``4G`` or ``500M``)."""
        return f"{mbytes // 1024}G" if mbytes % 1024 == 0 else f"{mbytes}M"

    def array_spec(self, size: int, throttle: int | None = None) -> str:
        """The array range for ``size`` elements, with the throttle where the flag takes one."""
        first = self.first_index
        spec = f"{first}-{first + size - 1}"
        if throttle:
            spec += f"%{throttle}"
        return spec

    @staticmethod
    def element_id(array_id: str, index: int | str) -> str:
        """The id under which the queue shows element ``index`` of ``array_id``."""
        return f"{array_id}_{index}"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict | None:
        """The batch job a process runs in, from its environment, or None if not this
        scheduler's: ``{"scheduler", "job_id", "array_job_id", "array_task_id", "queue_id"}``.

        ``queue_id`` is the id under which the queue listing shows the worker, so it must
        agree with :meth:`element_id` (lock owners record it; the watch loop matches it)."""
        return None

    @classmethod
    def _job_record(cls, job_id: str, array_id: str | None, index: str | None,
                    queue_id: str) -> dict:
        return {"scheduler": cls.name, "job_id": job_id, "array_job_id": array_id,
                "array_task_id": index, "queue_id": queue_id}

    # -- running commands ----------------------------------------------------------------
    def _require(self, command: str, what: str) -> None:
        """Raise CommandMissing (a clear line) if ``command`` is not on PATH."""
        if shutil.which(command) is None:
            raise CommandMissing(
                f"{what}: command '{command}' not found on PATH. Is this a {self.name} login "
                f"node? (load the scheduler's module, or pick another --scheduler)")

    def _run(self, cmd: Sequence[str], what: str, cwd: str | None = None,
             timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run a scheduler command; missing command and non-zero exit become clear errors."""
        self._require(cmd[0], what)
        try:
            proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(f"{what}: '{' '.join(cmd)}' did not answer in {timeout:.0f} s")
        if check and proc.returncode != 0:
            raise CommandFailed(cmd, proc.returncode, proc.stdout, proc.stderr, what)
        return proc

    def error_kind(self, error: SchedulerError) -> ErrorKind:
        """Whether ``error`` goes away by itself: a command that did not answer in time, or
        printed one of :attr:`transient_errors`, is transient; everything else (the request
        refused, a command missing, an output without a job id) is permanent."""
        if isinstance(error, CommandTimeout):
            return ErrorKind.TRANSIENT
        if isinstance(error, CommandFailed):
            text = f"{error.stderr}\n{error.stdout}"
            if any(re.search(p, text, re.IGNORECASE) for p in self.transient_errors):
                return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT

    # -- submit --------------------------------------------------------------------------
    def submit_args(self, script: str) -> list[str]:
        """The full submit command line for ``script``."""
        return [*self.submit_command, script]

    def parse_submit_output(self, stdout: str) -> str:
        """The job id from the submit command's output (last line matching the pattern)."""
        pattern = re.compile(self.submit_pattern)
        found = None
        for line in stdout.splitlines():
            m = pattern.search(line.strip())
            if m:
                found = m.group("id") if "id" in pattern.groupindex else m.group(m.lastindex or 0)
        if not found:
            shown = "\n  ".join(stdout.strip().splitlines()) or "(nothing)"
            raise SchedulerError(
                f"cannot find a job id in the output of {' '.join(self.submit_command)}:\n"
                f"  {shown}\nThe job may have been submitted: check the queue. If your site's "
                f"submit command prints something else, set the pattern in your profile, e.g.\n"
                f"  submit-pattern: '(?P<id>\\d+)'\n(or --submit-pattern); current pattern: "
                f"{self.submit_pattern!r}")
        return found

    def submit(self, script: str, cwd: str | None = None) -> str:
        """Submit ``script`` and return the job id."""
        proc = self._run(self.submit_args(script), f"{self.name} submit", cwd=cwd)
        return self.parse_submit_output(proc.stdout)

    #: the command that checks a job script without queueing it (None: the scheduler has
    #: none; the script is then only checked when it is submitted)
    validate_command: tuple[str, ...] | None = None

    def validate_args(self, script: str) -> list[str] | None:
        """The command checking ``script`` without queueing it (None: no such command)."""
        return [*self.validate_command, script] if self.validate_command else None

    def validate(self, script: str, cwd: str | None = None) -> str | None:
        """Why the scheduler would refuse ``script`` (its own line), or None: it accepts it,
        or cannot say (no validation command, or none on PATH: the submission will tell)."""
        cmd = self.validate_args(script)
        if cmd is None or shutil.which(cmd[0]) is None:
            return None
        proc = self._run(cmd, f"{self.name} validation", cwd=cwd, check=False)
        if proc.returncode == 0:
            return None
        lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines()
                 if ln.strip() and ln.strip() != "Exiting."]
        errors = [ln for ln in lines if "error" in ln.lower() or "unable" in ln.lower()]
        return "; ".join(errors or lines) or f"{cmd[0]} exited {proc.returncode}"

    def short_id(self, job_id: str) -> str:
        """The numeric part of a job id (``1234[].server`` -> ``1234``)."""
        m = re.match(r"\d+", job_id)
        return m.group(0) if m else job_id

    # -- queue ----------------------------------------------------------------------------
    def queue_args(self) -> list[str]:
        """The command listing this user's jobs (one call for every array)."""
        raise NotImplementedError

    def parse_queue(self, stdout: str) -> list[QueueEntry]:
        """Parse the queue listing into entries."""
        raise NotImplementedError

    def queue(self) -> list[QueueEntry]:
        """Every queued or running job element of this user, in one scheduler call."""
        proc = self._run(self.queue_args(), f"{self.name} queue query")
        return self.parse_queue(proc.stdout)

    def query(self, job_ids: Iterable[str]) -> dict[str, ArrayCounts]:
        """Pending and running workers of each array in ``job_ids`` (one queue call for all)."""
        job_ids = list(job_ids)
        if not job_ids:
            return {}
        return tally(self.queue(), job_ids, self.short_id)

    # -- accounting -----------------------------------------------------------------------
    def accounting_args(self, array_ids: Sequence[str]) -> list[str] | None:
        """The command listing these arrays' elements with submit/start/end times (None:
        this scheduler has no accounting jug reads)."""
        return None

    def parse_accounting(self, stdout: str) -> dict[tuple[str, str], Elapsed]:
        """``{(array id, index): Elapsed}`` of the accounting command's output."""
        return {}

    def accounting(self, array_ids: Iterable[str]) -> dict[tuple[str, str], Elapsed] | None:
        """The accounting's view of these arrays' elements, or None when there is none or
        it does not answer (accounting is often disabled: never an error)."""
        ids = sorted(set(array_ids))
        cmd = self.accounting_args(ids) if ids else None
        if not cmd:
            return None
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:
            return None
        return self.parse_accounting(proc.stdout) or None

    # -- why jobs ended (fates) -----------------------------------------------------------
    def fate_commands(self, queue_ids: Sequence[str]) -> list[list[str]]:
        """The commands (one bulk query where the scheduler allows it) that say how these
        jobs ended ([]: this scheduler has no accounting jug reads)."""
        return []

    def parse_fates(self, stdout: str) -> dict[str, Fate]:
        """``{queue id: Fate}`` of a fate command's output (ended jobs only)."""
        return {}

    def fates(self, queue_ids: Iterable[str]) -> dict[str, Fate]:
        """How each of these jobs ended, where the accounting knows ({} when it does not
        answer: accounting is often disabled, never an error)."""
        ids = sorted(set(queue_ids))
        out: dict[str, Fate] = {}
        for cmd in self.fate_commands(ids) if ids else []:
            if all(i in out for i in ids):
                break  # the first (bulk) query answered for every job: no fallback needed
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if proc.returncode == 0:
                out.update(self.parse_fates(proc.stdout))
        return {k: v for k, v in out.items() if k in ids}

    # -- cancel / throttle ----------------------------------------------------------------
    def cancel_args(self, job_ids: Sequence[str]) -> list[str]:
        """The command cancelling whole arrays."""
        return ["qdel", *job_ids]

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel whole arrays (pending and running elements)."""
        if job_ids:
            self._run(self.cancel_args(list(job_ids)), f"{self.name} cancel")

    def cancel_pending_args(self, job_id: str, counts: ArrayCounts) -> list[list[str]]:
        """Commands cancelling only the not-yet-started elements of one array."""
        ids = [self.element_id(job_id, i) for e in counts.entries if e.state == PENDING
               for i in (e.indices or [])]
        return [self.cancel_args(ids)] if ids else []

    def cancel_elements_args(self, job_id: str, indices: Sequence[int]) -> list[list[str]]:
        """Commands cancelling the given elements of one array (pending or running)."""
        ids = [self.element_id(job_id, i) for i in indices]
        return [self.cancel_args(ids)] if ids else []

    def cancel_elements(self, job_id: str, indices: Sequence[int]) -> None:
        """Cancel the given elements of one array (e.g. idle workers the loop stops)."""
        for cmd in self.cancel_elements_args(job_id, indices):
            self._run(cmd, f"{self.name} cancel elements")

    def cancel_pending(self, job_id: str, counts: ArrayCounts) -> None:
        """Cancel the pending elements of one array (running workers keep going)."""
        for cmd in self.cancel_pending_args(job_id, counts):
            self._run(cmd, f"{self.name} cancel pending")

    def throttle_args(self, job_id: str, limit: int) -> list[str] | None:
        """The command changing the running-elements limit of a live array, or None."""
        return None

    def set_throttle(self, job_id: str, limit: int) -> bool:
        """Change how many elements of a live array may run at once; False if unsupported."""
        cmd = self.throttle_args(job_id, limit)
        if cmd is None:
            return False
        self._run(cmd, f"{self.name} throttle update")
        return True

    # -- limits ---------------------------------------------------------------------------
    def max_array_size_args(self) -> list[str] | None:
        """The command showing the site's array size limit, or None."""
        return None

    def parse_max_array_size(self, stdout: str) -> int | None:
        """The number of elements one array may have, from the limit command's output."""
        return None

    def max_array_size(self) -> int | None:
        """The site's array size limit: the ``max_array_size`` setting, else asked once."""
        if self.settings.get("max_array_size"):
            return int(self.settings["max_array_size"])
        if self._max_array_size is None:
            cmd = self.max_array_size_args()
            if cmd is None or shutil.which(cmd[0]) is None:
                return None
            proc = self._run(cmd, f"{self.name} array size limit", check=False)
            self._max_array_size = self.parse_max_array_size(proc.stdout) or 0
        return self._max_array_size or None

    def split(self, workers: int) -> list[int]:
        """Array sizes for ``workers`` workers, each within the site's array size limit."""
        if workers < 1:
            raise ValueError(f"need at least one worker, got {workers}")
        return split_sizes(workers, self.max_array_size())

    # -- directives (used by templates and for --dry-run) ---------------------------------
    def signal_lead(self, margin: int) -> int | None:
        """Seconds before the walltime for the backstop signal (None: no signal is asked).

        Half the margin: workers stop taking tasks at walltime - margin, and one still inside
        a task then gets the signal (jug releases its lock) well before the kill.  The signal
        must never come before the budget ends (it would cut a task the budget allowed), and
        it may come :attr:`signal_early` seconds before it was asked for: the lead is at most
        ``margin - signal_early - 1``.  A margin too short for that gets no signal; the
        scheduler's own SIGTERM at the walltime is then the backstop (the dry run says so).
        """
        if not self.supports_signal:
            return None
        lead = min(margin // 2, margin - self.signal_early - 1, 65535)
        return lead if lead >= 1 else None

    def signal_note(self, walltime: int, margin: int) -> str:
        """When the backstop signal arrives, in words (for the dry run)."""
        lead = self.signal_lead(margin)
        if not self.supports_signal:
            return (f"none ({self.name} has no signal before the walltime; workers leave by "
                    f"their budget)")
        if lead is None:
            return (f"none: {self.name} may send it up to {self.signal_early} s early, so a "
                    f"margin of {margin} s leaves no lead after the budget; the scheduler's "
                    f"SIGTERM at the walltime is the backstop (a margin of "
                    f"{self.signal_early + 2} s or more gets a signal)")
        fmt = self.format_walltime
        at = fmt(walltime - lead)
        when = (f"between {fmt(walltime - lead - self.signal_early)} and {at}"
                if self.signal_early else f"at {at}")
        return (f"{self.signal_name} {lead} s before the walltime ({when} into the job, "
                f"after the budget ends at {fmt(walltime - margin)})")

    #: characters a path in a directive cannot hold here: {character: why}; found by
    #: submitting to the real schedulers (``log_unsafe`` adds those of the log file argument)
    path_unsafe: Mapping[str, str] = {"\n": "a line break ends the directive"}
    log_unsafe: Mapping[str, str] = {}
    chdir_directive: bool = True  # the working folder is a directive (PBS: a `cd` line only)

    def check_paths(self, workdir: str, log_dir: str) -> None:
        """Refuse, before anything runs, folders the built-in directives could not hold."""
        if self.chdir_directive:
            self.directive_path(workdir)
        self.directive_path(log_dir, self.log_pattern)

    def directive_path(self, folder: str, pattern: str | None = None) -> str:
        """``folder`` (plus ``/pattern`` for a log file) as one directive argument.

        Directives are read by the scheduler's own parser, not by a shell, so they are not
        shell-quoted: the argument is wrapped in double quotes only when it holds a space or
        another character that parser splits on (see :meth:`quote_directive`), and a path
        holding a character the parser cannot pass through at all is refused, naming it.
        """
        unsafe = {**self.path_unsafe, **(self.log_unsafe if pattern is not None else {})}
        for char, why in unsafe.items():
            if char in folder:
                raise UnexpressiblePath(
                    f"{self.name} cannot take the path {folder!r} in a {self.prefix} directive: "
                    f"{char!r} {why}. Use a folder without it (e.g. --log-dir, or submit from "
                    f"another folder)")
        escaped = self.escape_log_folder(folder) if pattern is not None else folder
        text = escaped if pattern is None else f"{escaped}/{pattern}"
        return self.quote_directive(text)

    def escape_log_folder(self, folder: str) -> str:
        """The log folder with this scheduler's file-name placeholders made literal."""
        return folder

    def quote_directive(self, text: str) -> str:
        """``text`` in double quotes if the directive parser would split or cut it there."""
        if re.fullmatch(r"[\w@%+=:,./$\-]*", text):
            return text
        return '"' + text + '"'

    def template_context(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Scheduler-specific values for the template (e.g. the PBS dialect)."""
        return {}

    def dependency(self, job_ids: Sequence[str]) -> str:
        """The directive (without prefix) holding a job until ``job_ids`` have all ended."""
        return self.dependency_option.format(ids=self.dependency_separator.join(job_ids))

    def submit_hosts_probe(self) -> bool | None:
        """Whether compute nodes may submit jobs, from the scheduler (None: cannot tell)."""
        return None

    def compute_nodes_may_submit(self) -> bool | None:
        """The ``compute_submit`` setting (yes/no) if given, else :meth:`submit_hosts_probe`.

        ``--until-done`` needs it: workers and the planner job submit from compute nodes.
        """
        value = self.settings.get("compute_submit")
        if value not in (None, ""):
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        return self.submit_hosts_probe()

    def check_directive(self, raw: str) -> str | None:
        """The jug option a raw directive would override behind jug's back, or None."""
        for pattern, option in self.managed_directives:
            if re.match(pattern, raw.strip()):
                return option
        return None

    @classmethod
    def detect(cls) -> bool:
        """True if this scheduler's commands are on PATH."""
        return bool(cls.detect_commands) and all(shutil.which(c) for c in cls.detect_commands)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
