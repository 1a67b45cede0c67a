"""The settings of ``jug submit``, each declared once: name, type, default, help.

Everything else is derived from :data:`SETTINGS`: the built-in layer of the profiles
(:data:`DEFAULTS`, :mod:`jug.hpc.profiles`), the command-line options with their
``(default: ...)`` help (:func:`command_line_options`), the fallbacks of the job plan and the
loop, and which settings the dry run shows for a scheduler (:func:`applies_to`).  A default
written anywhere else would drift from this one.

Layering, lowest first: built-in < user file < project file < profile < jugrc / ``JUG_*``
environment < command line (:func:`jug.hpc.profiles.merge`).  This module imports only
:mod:`jug.config.options`, :mod:`jug.state.taskstate` and the adapters' registry
(:mod:`jug.schedulers`; the CLI reads it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..config.options import Option
from ..schedulers import NAMES, adapter_classes
from ..state.taskstate import STALE_AFTER

#: every scheduler, from the adapters' registry (never listed here)
ALL = NAMES


@dataclass(frozen=True)
class Setting:
    """One setting of ``jug submit``."""

    name: str  # canonical, with underscores (``cpus_per_task``); ``--cpus-per-task``
    default: Any = None
    help: str = ""  # empty: set in profile files only (no command-line option)
    default_text: str | None = None  # a computed default, in words (None: the value itself)
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    short: str | None = None
    aliases: tuple[str, ...] = ()
    multiple: bool = False  # repeatable; a later file replaces the list, the command line adds
    flag: bool = False
    loop: bool = False  # a knob of --watch / --until-done, not of the job script or profiles

    def option(self) -> Option:
        """The command-line option; its default stays unset so the layers below show through."""
        shown = self.default_text if self.default_text is not None else _shown(self.default)
        text = self.help + (f" (default: {shown})" if shown and not self.flag else "")
        return Option(self.name.replace("_", "-"), self.default if self.flag else None,
                      text.replace("%", "%%"), type=self.type, flag=self.flag,
                      short=self.short, multiple=self.multiple, metavar=self.metavar,
                      aliases=self.aliases)


def _shown(value: Any) -> str:
    """A default as the help shows it (``60``, not ``60.0``; nothing for None or empty)."""
    if value in (None, [], {}, ""):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


_WORKERS = "With --watch or --until-done: "
SETTINGS: tuple[Setting, ...] = (
    Setting("scheduler", None, f"The batch system: {', '.join(NAMES)}",
            "the profile's, else detected from the commands on PATH", metavar="NAME"),
    Setting("workers", 1, "Number of workers (array elements)", metavar="N", short="-n"),
    Setting("walltime", "01:00:00", "Walltime of each worker: MM:SS, HH:MM:SS, D-HH:MM:SS, "
            "or units such as 90m, 2h, 1h30m (a bare number is refused)", metavar="TIME",
            short="-t"),
    Setting("queue", None, "Queue (PBS, SGE, LSF) or partition (SLURM)", metavar="NAME",
            aliases=("partition",), short="-q"),
    Setting("account", None, "Account / project to charge", metavar="NAME"),
    Setting("mem", None, "Memory per worker, e.g. 4G or 500M", metavar="SIZE"),
    Setting("cpus_per_task", None, "CPU cores per worker", metavar="N"),
    Setting("gpus", None, "GPUs per worker (with --workers-per-job: per job, split among its "
            "workers)", metavar="N"),
    Setting("workers_per_job", None, "Workers per job: each array element runs 'jug execute "
            "-j K' and asks for K CPUs (K x --cpus-per-task); --workers stays the number of "
            "workers, so the array has ceil(N / K) elements; auto: cores-per-node", "1",
            metavar="K"),
    Setting("min_workers_per_job", None, "With --workers-per-job K and --watch / "
            "--until-done / pools: start a job the work fills only partly when at least this "
            "many of its K workers would have a task (always at least one job while work is "
            "left)", "half of K", metavar="N"),
    Setting("cores_per_node", None, "Cores of one node (for workers-per-job auto and the "
            "allocation report of exclusive jobs)", metavar="N"),
    Setting("exclusive", False),  # whole nodes: the adapter's exclusive directive (profiles)
    Setting("job_name", None, "Job name", "jug-<jugfile name>", metavar="NAME"),
    Setting("directive", [], "Raw scheduler directive, e.g. --directive='--qos=high' "
            "(repeatable; the prefix such as #SBATCH is added)", metavar="LINE", multiple=True),
    Setting("prologue", [], "Shell line run before the worker starts, e.g. 'module load "
            "python' (repeatable)", metavar="LINE", multiple=True),
    Setting("epilogue", [], multiple=True),
    Setting("env", {}),
    Setting("template_dir", None, "Folder searched first for job script templates", metavar="DIR"),
    Setting("jugdir", None),
    Setting("margin", None, "Time kept free before the walltime ends: workers start no task "
            "after walltime - margin", "max(5 min, 10% of the walltime)", metavar="DURATION"),
    Setting("stop_file", "STOP", "File whose existence drains the workers",
            "STOP in the current folder", metavar="PATH"),
    Setting("log_dir", "logs", "Folder for worker logs and job scripts", metavar="DIR"),
    Setting("throttle", None, "At most this many workers run at once", metavar="N"),
    Setting("max_array_size", None, "Split into arrays of at most this many workers",
            "the site limit, e.g. SLURM MaxArraySize", metavar="N"),
    Setting("submit_pattern", None, "Regular expression finding the job id in the submit "
            "command's output (group 'id')", metavar="REGEX"),
    Setting("submit_command", None),
    Setting("python", None, "Python interpreter of the workers", "this one", metavar="PATH"),
    Setting("pythonpath", "auto"),
    Setting("parallel_env", "smp"),  # SGE's (its adapter declares it: own_settings)
    Setting("lsf_mem_unit", "MB"),  # LSF's: its LSF_UNIT_FOR_LIMITS (own_settings)
    Setting("condor_walltime", "both"),  # HTCondor's: how it learns the walltime (own_settings)
    Setting("execute_args", [], multiple=True),
    Setting("check", True, "Load the jugfile (jug status) before submitting; --no-check skips it",
            flag=True),
    Setting("validate", True, "Let the scheduler check every job script before anything is "
            "submitted (sbatch --test-only, qsub -w v; PBS has no such check); --no-validate "
            "skips it", flag=True),
    # on by default: one bad input must not empty an allocation of 64 workers, and a worker
    # that leaves on a failure does not hand over (see README, "On a cluster")
    Setting("keep_going", True, "Workers record a failed task and go on with other work (jug "
            "execute --keep-going); --no-keep-going stops a worker at its first failure",
            flag=True),
    Setting("compute_submit", None),  # None: ask the scheduler whether compute nodes may submit
    Setting("planner_walltime", None),  # None: PLANNER_WALLTIME (10 minutes), any worker walltime
    Setting("pools", {}),  # worker pools (jug.hpc.pool_settings): name -> {tasks, max-workers, settings}
    Setting("pool", [], "A worker pool, e.g. gpu:tasks=train,gpus=1,partition=gpu,max-workers=4 "
            "(repeatable; adds to or replaces the profile's 'pools'): one array per pool, sized "
            "from its own tasks", metavar="NAME:SPEC", multiple=True),
    # -- the loop (--watch, --until-done): not in profiles ----------------------------------
    Setting("max_generations", None, "With --until-done: at most this many generations of "
            "arrays", "twice what the recorded run times need, else 20; at most 100", type=int,
            metavar="N", loop=True),
    Setting("max_workers", None, _WORKERS + "at most this many workers at once", "--workers",
            type=int, metavar="N", loop=True),
    Setting("max_queued", None, _WORKERS + "at most this many elements of the arrays in the "
            "queue, pending or running (site limits such as MaxSubmitJobs)", type=int,
            metavar="N", loop=True),
    Setting("poll", 60.0, "With --watch: seconds between polls (backs off on scheduler errors)",
            type=float, metavar="SECONDS", loop=True),
    Setting("stale_after", STALE_AFTER, "With --watch: a lock whose heartbeat is older than this many "
            "seconds belongs to a dead worker", type=float, metavar="SECONDS", loop=True),
)

BY_NAME = {s.name: s for s in SETTINGS}
#: the built-in layer of the profiles (job settings only; the loop's knobs are not profiled)
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS if not s.loop}
#: the loop's knobs and their defaults
LOOP_DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS if s.loop}
#: settings that collect lists (a later layer replaces, the command line appends)
LIST_KEYS = tuple(s.name for s in SETTINGS if s.multiple)
ALIASES = {"partition": "queue", "cpus": "cpus_per_task", "memory": "mem", "name": "job_name"}


def default(name: str) -> Any:
    """The built-in default of setting ``name`` (a fresh copy of lists and dicts)."""
    value = BY_NAME[name].default
    return type(value)(value) if isinstance(value, (list, dict)) else value


def command_line_options(loop: bool) -> list[Option]:
    """The ``jug submit`` options of the job settings (``loop``: of the loop's knobs)."""
    return [s.option() for s in SETTINGS if s.help and s.loop == loop]


def applies_to(name: str, scheduler: str) -> bool:
    """Whether setting ``name`` means something for ``scheduler``: a setting that adapters
    declare as their own (``own_settings``) only for those; every other one everywhere."""
    owners = [n for n, cls in adapter_classes().items() if name in cls.own_settings]
    return not owners or scheduler in owners
