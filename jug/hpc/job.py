"""A worker job array: validated settings, the rendered script, submission and its state.

``jug submit`` and the resubmit loop both go through :class:`JobPlan`: build it once from the
merged settings, then :meth:`JobPlan.render` / :meth:`JobPlan.submit` any number of workers.
Each submitted array is recorded in the store (namespace ``submit``) so that ``--cancel`` and
the loop can find it again.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jug

from .. import schedulers
from ..backends import StoreError, default_jugdir, select_store
from ..config.trust import read_trusted, search_upwards, trusted
from ..schedulers import SchedulerError, get_scheduler
from ..schedulers.base import (
    CommandFailed,
    CommandMissing,
    Scheduler,
    UnexpressiblePath,
    UnsupportedSetting,
)
from ..status.progress import plural
from .settings import default

STATE_NAMESPACE = "submit"
DEFAULT_MIN_MARGIN = 300  # seconds
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class SubmitError(ValueError):
    """Bad settings for ``jug submit`` (reported to the user, nothing submitted)."""


def trusted_loader(folders: list[str]) -> Any:
    """A Jinja2 loader over ``folders`` that reads only trusted files (:mod:`jug.config.trust`).

    A template becomes a shell script run on the cluster, so each file is checked as it is
    read, the named template and every file it includes, imports or extends: one owned by
    another user or writable by all is ignored with a warning, and the search goes on to the
    next folder (the built-ins last, which are part of jug and not checked).
    """
    import jinja2  # jinja2 only when a script is rendered (start-up time)

    package = str(PACKAGE_TEMPLATES)

    class TrustedFiles(jinja2.BaseLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            pieces = jinja2.loaders.split_template_path(template)
            for folder in folders:
                path = os.path.join(folder, *pieces)
                if not os.path.isfile(path):
                    continue
                if folder == package:
                    text: str | None = Path(path).read_text(encoding="utf-8")
                else:
                    text = read_trusted(path, "job script template")
                if text is not None:
                    mtime = os.path.getmtime(path)
                    return text, path, lambda p=path, m=mtime: os.path.getmtime(p) == m
            raise jinja2.TemplateNotFound(template)

    return TrustedFiles()


_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

#: the forms that SLURM, PBS and SGE all read the same way; what a refusal lists
DURATION_FORMS = "MM:SS, HH:MM:SS, D-HH:MM:SS, or with units: 90m, 2h, 1d, 1h30m"
#: (pattern, field names, upper bounds of the fields after the first): the clock forms
_CLOCKS = (
    (re.compile(r"(\d+):(\d{1,2})"), ("m", "s"), (60,)),
    (re.compile(r"(\d+):(\d{1,2}):(\d{1,2})"), ("h", "m", "s"), (60, 60)),
    (re.compile(r"(\d+)-(\d{1,2}):(\d{1,2}):(\d{1,2})"), ("d", "h", "m", "s"), (24, 60, 60)),
)
_FIELD_NAMES = {"h": "hours", "m": "minutes", "s": "seconds"}
_UNITS = re.compile(r"(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*"
                    r"(?:(?P<s>\d+)\s*s)?")


def parse_duration(text: Any, what: str = "duration", bare_seconds: bool = True) -> int:
    """Seconds from ``MM:SS``, ``HH:MM:SS``, ``D-HH:MM:SS`` or units (``90m``, ``1h30m``).

    Only forms that SLURM, PBS and SGE read alike are accepted, so that a walltime means
    what it means on the user's cluster: ``30:00`` is 30 minutes to all three.  A bare
    number is minutes to SLURM but seconds to PBS and SGE: refused for walltimes
    (``bare_seconds=False``); jug's own durations (the margin) read it as seconds.  SLURM's
    ``D-HH`` and ``D-HH:MM`` are refused (nothing else reads them).  Units are whole numbers
    of d, h, m, s, largest first, each at most once (``1d12h``, ``1h30m``, ``45s``).
    """
    raw = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        if bare_seconds:
            return int(float(raw))
        raise SubmitError(f"malformed {what} '{raw}': a bare number is minutes to SLURM "
                          f"but seconds to PBS and SGE; write {DURATION_FORMS}")
    for pattern, names, bounds in _CLOCKS:
        m = pattern.fullmatch(raw)
        if m:
            values = [int(v) for v in m.groups()]
            for v, bound, name in zip(values[1:], bounds, names[1:]):
                if v >= bound:
                    raise SubmitError(f"malformed {what} '{raw}': {_FIELD_NAMES[name]} must "
                                      f"be below {bound} here; write {DURATION_FORMS}")
            return sum(v * _DURATION_UNITS[n] for v, n in zip(values, names))
    units = _UNITS.fullmatch(raw.lower())
    if units and any(units.groupdict().values()):
        return sum(int(n) * _DURATION_UNITS[u] for u, n in units.groupdict().items() if n)
    raise SubmitError(f"malformed {what} '{raw}': write {DURATION_FORMS}")


_MEM_UNITS = {"": 1, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def parse_memory(text: Any) -> int:
    """Megabytes from ``4G``, ``4GB``, ``500M``, ``1.5g``, ``4096`` (bare numbers are MB)."""
    raw = str(text).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(?:[bB]|iB)?", raw)
    if not m:
        raise SubmitError(f"malformed memory '{raw}': write e.g. 4G, 500M")
    return max(1, math.ceil(float(m.group(1)) * _MEM_UNITS[m.group(2).lower()]))


def _positive_int(value: Any, what: str, minimum: int = 1) -> int | None:
    """``value`` as an int of at least ``minimum`` (None stays None); SubmitError otherwise."""
    if value is None or value == "":
        return None
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise SubmitError(f"{what} must be a whole number, got {value!r}")
    if n < minimum:
        raise SubmitError(f"{what} must be at least {minimum}, got {value!r}")
    return n


def default_margin(walltime: int) -> int:
    """Time kept free before the walltime ends: max(5 min, 10% of the walltime)."""
    return max(DEFAULT_MIN_MARGIN, math.ceil(walltime / 10))


def budget_parts(seconds: int) -> tuple[int, int, int]:
    """(hours, minutes, seconds) of a duration, for JUG_MAX_HOURS/MINUTES/SECONDS."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return h, m, s


def _enabled(value: Any) -> bool:
    """A yes/no setting from any layer: YAML booleans, or words from a jugrc/environment."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def _sanitize_name(name: str, limit: int | None) -> str:
    """A job name every scheduler accepts (letters first, no spaces, PBS's 15 characters)."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "jug"
    if not clean[0].isalpha():
        clean = "j" + clean
    return clean[:limit] if limit else clean


def _auto_pythonpath(python: str) -> str | None:
    """The job's PYTHONPATH: the submitter's (SGE jobs start with a bare environment), with
    this jug's folder first if ``python`` cannot import this jug by itself; None if empty."""
    root = str(Path(jug.__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH", "")
    try:
        code = "import jug, os; print(os.path.realpath(jug.__file__))"
        proc = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True,
                              timeout=60, cwd="/")
        found = proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        found = ""
    paths = [p for p in existing.split(os.pathsep) if p]
    if not found or Path(found).parent.parent != Path(root):
        paths = [root, *[p for p in paths if p != root]]
    return os.pathsep.join(paths) or None


PASSWORD_FILE = ".jug-redis-password"  # in the log folder, mode 0600


def split_password(jugdir: str) -> tuple[str, str | None]:
    """(the jugdir without its Redis password, the password or None).

    A password must never reach a printed line, a job script or a command line (``ps`` shows
    those to every user): workers read it from a file only the user can read.  Without one in
    the URL, ``$JUG_REDIS_PASSWORD`` (what the Redis store reads) supplies it.
    """
    if not jugdir.startswith(("redis://", "rediss://")):
        return jugdir, None
    from urllib.parse import unquote, urlsplit  # start-up time: only for a Redis URL

    parts = urlsplit(jugdir)
    try:
        password = parts.password
    except ValueError:
        return jugdir, None  # malformed: the store reports it (without the password)
    if password is None:
        return jugdir, os.environ.get("JUG_REDIS_PASSWORD") or None
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=user + host).geturl(), unquote(password)


def _scheduler_from(s: Mapping[str, Any]) -> Scheduler:
    """The adapter the settings name, else the one whose commands are on PATH."""
    name = s.get("scheduler") or schedulers.detect()
    if not name:
        looked = ", ".join(dict.fromkeys(c.detect_commands[0] for c in
                                         schedulers.adapter_classes().values()))
        raise SubmitError(f"no scheduler given and none found on PATH (looked for {looked}): "
                          f"use --scheduler {'|'.join(schedulers.NAMES)}, or set "
                          f"'scheduler:' in a profile")
    try:
        return get_scheduler(str(name), s)
    except SchedulerError as e:
        raise SubmitError(str(e))


def _validate_numbers(scheduler: Scheduler, s: dict[str, Any]) -> tuple[int, int, int]:
    """(workers, walltime, margin); normalises the numeric settings of ``s`` in place."""
    workers = _positive_int(s.get("workers"), "--workers")
    if workers is None:
        raise SubmitError("--workers must be at least 1")
    walltime = parse_duration(s.get("walltime"), "walltime", bare_seconds=False)
    try:
        walltime = scheduler.effective_walltime(walltime)
        scheduler.check_settings(s)
    except UnsupportedSetting as e:
        raise SubmitError(str(e))
    margin = (parse_duration(s["margin"], "margin") if s.get("margin") not in (None, "")
              else default_margin(walltime))
    if walltime <= margin:
        raise SubmitError(
            f"walltime {scheduler.format_walltime(walltime)} is not longer than the margin "
            f"{scheduler.format_walltime(margin)} that workers keep free before it ends: "
            f"give a longer --walltime or a smaller --margin (e.g. --margin 30s)")
    for key, label in (("cpus_per_task", "--cpus-per-task"), ("throttle", "--throttle"),
                       ("max_array_size", "max-array-size")):
        s[key] = _positive_int(s.get(key), label)
    s["gpus"] = _positive_int(s.get("gpus"), "--gpus", minimum=0) or None
    s["mem"] = parse_memory(s["mem"]) if s.get("mem") not in (None, "") else None
    s["workers_per_job"] = workers_per_job(s)
    if s.get("exclusive") and not scheduler.exclusive_directive:
        raise SubmitError(f"exclusive: jug knows no whole-node directive of {scheduler.name}: "
                          f"drop 'exclusive' and give the site's own with --directive")
    s["min_workers_per_job"] = _positive_int(s.get("min_workers_per_job"),
                                             "--min-workers-per-job")
    return workers, walltime, margin


def workers_per_job(s: Mapping[str, Any]) -> int:
    """K of ``--workers-per-job`` (1 when unset); ``auto`` is a whole node: cores-per-node."""
    cores = _positive_int(s.get("cores_per_node"), "cores-per-node")
    raw = s.get("workers_per_job")
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        if cores is None:
            raise SubmitError("workers-per-job auto needs the cores of a node: set "
                              "'cores-per-node: N' in the profile (or --cores-per-node N)")
        return cores
    k = _positive_int(raw, "--workers-per-job") or 1
    if cores is not None and k * int(s.get("cpus_per_task") or 1) > cores:
        raise SubmitError(f"--workers-per-job {k} needs {k * int(s.get('cpus_per_task') or 1)} "
                          f"cores, more than cores-per-node {cores}: ask for fewer workers "
                          f"per job")
    return k


def _resolve_jugdir(jugdir: Any, jugfile: str) -> str:
    """The store workers share: an absolute path or a URL (never the in-memory dict_store)."""
    if jugdir in (None, ""):
        return default_jugdir(jugfile)
    if jugdir == "dict_store":
        raise SubmitError("jugdir 'dict_store' lives in one process's memory: batch "
                          "workers need a shared store (a directory or redis://...)")
    return str(jugdir) if "://" in str(jugdir) else os.path.abspath(str(jugdir))


def _check_directives(scheduler: Scheduler, raw_directives: list) -> None:
    """Refuse raw directives that would change behind jug's back what jug derives itself."""
    for raw in raw_directives:
        text = str(raw).strip()
        if text.startswith(scheduler.prefix):
            text = text[len(scheduler.prefix):].strip()
        option = scheduler.check_directive(text)
        if option:
            raise SubmitError(f"directive '{raw}' would override what jug sets itself; "
                              f"use {option} instead (jug derives the time budget, the "
                              f"array and the logs from these)")


def _check_paths(scheduler: Scheduler, workdir: str, log_dir: str) -> None:
    """Refuse, before anything runs, folders this scheduler's directives cannot hold."""
    try:
        scheduler.check_paths(workdir, log_dir)
    except UnexpressiblePath as e:
        raise SubmitError(str(e))


def _check_one_line(paths: Mapping[str, str]) -> None:
    """Refuse paths with a line break: no directive, comment or shell line of a script can
    hold one, and the jugfile's own comment line would run the rest as a command."""
    for what, path in paths.items():
        if "\n" in path or "\r" in path:
            raise SubmitError(f"{what} {path!r} contains a line break, which a job script "
                              f"cannot hold: rename the folder or file")


@dataclass
class JobPlan:
    """Everything needed to render and submit worker arrays for one jugfile and store."""

    scheduler: Scheduler
    jugfile: str  # absolute
    jugdir: str  # absolute path, or a URL
    workdir: str  # absolute
    workers: int
    walltime: int  # seconds
    margin: int  # seconds
    stop_file: str  # absolute
    log_dir: str  # absolute
    job_name: str
    python: str
    pythonpath: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    jugfile_args: list[str] = field(default_factory=list)
    #: the Redis password (from the jugdir URL or $JUG_REDIS_PASSWORD), kept out of ``jugdir``
    redis_password: str | None = field(default=None, repr=False)
    #: the worker pool these arrays serve (None: no pools); recorded with each array
    pool: str | None = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], jugfile: str,
                      jugfile_args: list[str] | None = None, workdir: str | None = None) -> JobPlan:
        """Validate merged settings (see :mod:`jug.hpc.profiles`) into a plan."""
        s = dict(settings)
        scheduler = _scheduler_from(s)
        workers, walltime, margin = _validate_numbers(scheduler, s)
        workdir = os.path.abspath(workdir or os.getcwd())
        jugfile = os.path.abspath(jugfile)
        jugdir = _resolve_jugdir(s.get("jugdir"), jugfile)
        stop_file = os.path.abspath(os.path.join(workdir, str(s.get("stop_file") or default("stop_file"))))
        log_dir = os.path.abspath(os.path.join(workdir, str(s.get("log_dir") or default("log_dir"))))
        _check_one_line({"the jugfile": jugfile, "the working folder": workdir,
                         "--jugdir": str(jugdir), "--stop-file": stop_file,
                         "--log-dir": log_dir, "--python": str(s.get("python") or "")})
        _check_paths(scheduler, workdir, log_dir)
        stem = Path(jugfile).stem
        job_name = _sanitize_name(str(s.get("job_name") or f"jug-{stem}"), scheduler.max_job_name)
        python = str(s.get("python") or sys.executable)
        pp = s.get("pythonpath")
        pythonpath = (_auto_pythonpath(python) if pp == "auto"
                      else None if pp in (None, "", "none") else str(pp))
        _check_directives(scheduler, s.get("directive") or [])
        tdir = s.get("template_dir")
        if tdir and not Path(str(tdir)).expanduser().is_dir():
            raise SubmitError(f"--template-dir {tdir}: no such directory")
        scheduler.settings.update(s)
        jugdir, password = split_password(str(jugdir))
        s["env"] = dict(s.get("env") or {})
        in_env = s["env"].pop("JUG_REDIS_PASSWORD", None)  # a profile's env: goes to the file too
        password = password or (str(in_env) if in_env else None)
        return cls(scheduler=scheduler, jugfile=jugfile, jugdir=jugdir, workdir=workdir,
                   workers=workers, walltime=walltime, margin=margin, stop_file=stop_file,
                   log_dir=log_dir, job_name=job_name, python=python, pythonpath=pythonpath,
                   settings=s, jugfile_args=list(jugfile_args or []), redis_password=password)

    # -- rendering ------------------------------------------------------------------------
    @property
    def per_job(self) -> int:
        """Workers per array element (``--workers-per-job``): each runs ``jug execute -j K``."""
        return int(self.settings.get("workers_per_job") or 1)

    def jobs_for(self, workers: int) -> int:
        """Array elements that run ``workers`` workers: ceil(workers / workers per job)."""
        return -(-max(1, workers) // self.per_job)

    @property
    def cpus_per_job(self) -> int | None:
        """CPUs each array element asks for: K x --cpus-per-task (None: the site default)."""
        c = self.settings.get("cpus_per_task")
        return c if self.per_job == 1 else self.per_job * int(c or 1)

    @property
    def budget(self) -> int:
        """Seconds a worker may start new tasks for: walltime minus margin."""
        return self.walltime - self.margin

    @property
    def signal_lead(self) -> int | None:
        """Seconds before the walltime at which the backstop signal arrives (None: none)."""
        return self.scheduler.signal_lead(self.margin)

    def command(self) -> list[str]:
        """The ``jug execute`` command line of one worker (absolute paths)."""
        module = "jug.commands.sge_entry" if self.scheduler.walltime_signals_kill else "jug"
        extra = [str(a) for a in self.settings.get("execute_args") or []]
        if _enabled(self.settings.get("keep_going", default("keep_going"))) and \
                "--keep-going" not in extra:
            extra.insert(0, "--keep-going")
        jobs = ["-j", str(self.per_job)] if self.per_job > 1 else []
        cmd = [self.python, "-m", module, "execute", *jobs, "--jugdir", self.jugdir, *extra,
               self.jugfile]
        if self.jugfile_args:
            cmd += ["--", *self.jugfile_args]
        return cmd

    def directive_lines(self) -> list[str]:
        """The raw ``--directive`` values as full lines (prefix added where missing)."""
        lines = []
        prefix = self.scheduler.prefix
        for raw in self.settings.get("directive") or []:
            raw = str(raw).strip()
            lines.append(raw if raw.startswith(prefix) else f"{prefix} {raw}")
        return lines

    def template_search_path(self) -> list[str]:
        """--template-dir, project ``jug_templates/``, ``~/.config/jug/templates/``, built-ins."""
        path = []
        if self.settings.get("template_dir"):
            tdir = Path(str(self.settings["template_dir"])).expanduser()
            if not tdir.is_dir():
                raise SubmitError(f"--template-dir {tdir}: no such directory")
            path.append(str(tdir.resolve()))
        project = search_upwards(Path(self.jugfile).parent, ["jug_templates"],
                                 "template folder", is_wanted=Path.is_dir)
        if project is not None:
            path.append(str(project))
        user = Path("~/.config/jug/templates").expanduser()
        if user.is_dir() and trusted(user, "template folder"):
            path.append(str(user))
        path.append(str(PACKAGE_TEMPLATES))
        return path

    def context(self, size: int) -> dict[str, Any]:
        """The template variables of an array of ``size`` workers."""
        s = self.settings
        ctx = {
            "scheduler": self.scheduler.name,
            "prefix": self.scheduler.prefix,
            "log_pattern": self.scheduler.log_pattern,
            "index_var": self.scheduler.index_var,
            "job_name": self.job_name,
            "workers": size,
            "array": self.scheduler.array_spec(size, s.get("throttle")),
            "throttle": s.get("throttle"),
            "walltime": self.walltime,
            "margin": self.margin,
            "budget": self.budget,
            "budget_hms": budget_parts(self.budget),
            "signal_lead": self.signal_lead,
            "queue": s.get("queue"),
            "account": s.get("account"),
            "mem": s.get("mem") and s["mem"] * self.per_job,  # --mem is per worker
            "cpus_per_task": self.cpus_per_job,  # what one array element asks for
            "workers_per_job": self.per_job,
            "exclusive": bool(s.get("exclusive")),
            "gpus": s.get("gpus"),
            "parallel_env": s.get("parallel_env") or default("parallel_env"),
            "directives": ([self.scheduler.exclusive_directive] if s.get("exclusive") else [])
            + [d[len(self.scheduler.prefix):].strip() for d in self.directive_lines()],
            "prologue": [str(x) for x in s.get("prologue") or []],
            "epilogue": [str(x) for x in s.get("epilogue") or []],
            "env": {str(k): str(v) for k, v in (s.get("env") or {}).items()},
            "workdir": self.workdir,
            "log_dir": self.log_dir,
            "jugfile": self.jugfile,
            "jugdir": self.jugdir,
            "stop_file": self.stop_file,
            "python": self.python,
            "pythonpath": self.pythonpath,
            "password_file": self.password_file,
            "command": shlex.join(self.command()),
        }
        ctx.update(self.scheduler.template_context(ctx))
        return ctx

    def render(self, size: int | None = None, template: str | None = None,
               extra: Mapping[str, Any] | None = None) -> str:
        """The job script of an array of ``size`` workers (default: all of them).

        Templates are looked up along :meth:`template_search_path`; the built-ins are also
        reachable as ``jug/<name>`` whatever the search path holds, so that a site template
        called ``slurm.sh.j2`` can ``{% extends "jug/slurm.sh.j2" %}`` and change one block.
        ``template`` and ``extra`` variables render another job of the same plan (the
        planner job of ``--until-done``) with the same search path and filters.
        """
        template = template or self.scheduler.template
        import jinja2  # start-up time: Jinja2 loads only to render a job script

        loader = jinja2.ChoiceLoader([
            jinja2.PrefixLoader({"jug": jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES))}),
            trusted_loader(self.template_search_path())])
        env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True,
                                 keep_trailing_newline=True, autoescape=False)
        env.filters["walltime"] = self.scheduler.format_walltime
        env.filters["memory"] = self.scheduler.format_memory
        env.filters["q"] = lambda v: shlex.quote(str(v))
        env.filters["dpath"] = lambda v, pattern=None: self.scheduler.directive_path(str(v),
                                                                                     pattern)
        try:
            text = env.get_template(template).render({**self.context(size or self.jobs_for(self.workers)),
                                                      **(extra or {})})
        except jinja2.TemplateError as e:
            where = f" ({e.filename}:{e.lineno})" if getattr(e, "filename", None) else ""
            raise SubmitError(f"cannot render the job script template "
                              f"{template}{where}: {e}")
        except UnexpressiblePath as e:
            raise SubmitError(str(e))
        return re.sub(r"\n{3,}", "\n\n", text)

    def sizes(self, workers: int | None = None) -> list[int]:
        """The arrays (of jobs of :attr:`per_job` workers) ``workers`` workers are split
        into (site array size limit)."""
        jobs = self.jobs_for(workers or self.workers)
        try:
            return self.scheduler.split(jobs)
        except SchedulerError:
            return [jobs]

    def script_path(self, part: int, parts: int, stamp: str) -> str:
        """Where the script of array ``part`` is written (in the log folder)."""
        suffix = f"_part{part + 1}" if parts > 1 else ""
        return os.path.join(self.log_dir, f"{self.job_name}_{stamp}{suffix}.sh")

    def submit_command_line(self, script: str) -> list[str]:
        """The exact submit command for ``script``."""
        return self.scheduler.submit_args(script)

    def validate(self, size: int | None = None) -> None:
        """Let the scheduler check the script of an array of ``size`` workers without
        queueing it (``sbatch --test-only``, ``qsub -w v``; PBS has no such check), so a bad
        request (a partition, GRES or PE the cluster lacks) stops ``jug submit`` before
        anything is submitted, not hours later when this pool's first array is due.

        Raises SubmitError with the scheduler's own line.
        """
        if (self.scheduler.validate_args("SCRIPT") is None
                or not _enabled(self.settings.get("validate", default("validate")))):
            return
        text = self.render(size or self.sizes()[0])
        with tempfile.TemporaryDirectory(prefix="jug-validate-") as folder:
            script = os.path.join(folder, f"{self.job_name}.sh")
            _write_script(script, text)
            try:
                refused = self.scheduler.validate(script, cwd=self.workdir)
            except SchedulerError as e:
                refused = str(e).splitlines()[0]
        if refused:
            which = f"pool {self.pool}'s job script" if self.pool else "the job script"
            cmd = " ".join((self.scheduler.validate_args("SCRIPT") or [])[:-1])
            raise SubmitError(f"{cmd} refuses {which}: {refused}; nothing was submitted "
                              f"(--dry-run shows the script)")

    # -- the store ------------------------------------------------------------------------
    @property
    def password_file(self) -> str | None:
        """Where workers read the Redis password from (None: no password)."""
        return os.path.join(self.log_dir, PASSWORD_FILE) if self.redis_password else None

    def secret_env(self) -> dict[str, str]:
        """Environment a jug subprocess needs to open the store (the password, if any)."""
        return {"JUG_REDIS_PASSWORD": self.redis_password} if self.redis_password else {}

    def open_store(self) -> Any:
        """The store (with the password, which ``jugdir`` leaves out); SubmitError if not."""
        url = self.jugdir
        if self.redis_password:
            from urllib.parse import quote, urlsplit  # start-up time: only for a Redis URL

            parts = urlsplit(url)
            user, _, host = parts.netloc.rpartition("@")
            auth = f"{user}:{quote(self.redis_password, safe='')}@"
            url = parts._replace(netloc=auth + host).geturl()
        try:
            return select_store(url)
        except (StoreError, OSError) as e:
            raise SubmitError(f"cannot open the store {self.jugdir}: {e}")

    def check_store(self, store: Any) -> None:
        """Write and remove a probe record, so that an unwritable store stops the submission
        *before* any array exists (an array the store cannot record, --cancel cannot find).

        Raises StoreError: the resubmit loop retries those; ``jug submit`` reports them.
        """
        name = f"probe-{os.getpid()}"
        try:
            store.write_doc(STATE_NAMESPACE, name, {"probe": time.time()})
            store.remove_doc(STATE_NAMESPACE, name)
        except (StoreError, OSError) as e:
            raise StoreError(f"cannot write to the store {self.jugdir} ({e}); nothing was "
                             f"submitted. Choose a writable --jugdir") from None

    # -- submission -----------------------------------------------------------------------
    def submit(self, store: Any, workers: int | None = None, echo: Any = print) -> list[dict]:
        """Render, write and submit arrays for ``workers`` workers; record each in ``store``."""
        sizes = self.sizes(workers)
        texts = [self.render(size) for size in sizes]  # template errors before any side effect
        self.check_store(store)
        created = self._prepare_log_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        records: list[dict] = []
        for part, size in enumerate(sizes):
            script = self.script_path(part, len(sizes), stamp)
            _write_script(script, texts[part])
            try:
                job_id = self.scheduler.submit(script, cwd=self.workdir)
            except SchedulerError as e:
                if isinstance(e, (CommandFailed, CommandMissing)):  # else it may be queued
                    self._forget_script(script, created and not records)
                if records:
                    done = ", ".join(r["job_id"] for r in records)
                    raise SchedulerError(f"{e}\n(array(s) {done} were submitted before this "
                                         f"error and are recorded: 'jug submit --cancel' "
                                         f"cancels them)")
                raise
            records.append(self._record(store, job_id, size, script, records))
            what = (f"{plural(size, 'job')} x {self.per_job} workers" if self.per_job > 1
                    else f"{size} worker(s)")
            echo(f"submitted {self.scheduler.name} array {job_id}: {what}, script {script}")
        return records

    def _prepare_log_dir(self) -> bool:
        """Create the log folder (True if it is new) and write the password file, if any."""
        created = not os.path.isdir(self.log_dir)
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            if self.password_file:
                _write_private(self.password_file, self.redis_password or "")
        except OSError as e:
            raise SubmitError(f"cannot write to the log folder {self.log_dir}: {e.strerror}; "
                              f"nothing was submitted (choose another with --log-dir)")
        return created

    def _forget_script(self, script: str, remove_dir: bool) -> None:
        """After a rejected submission: no stray script (nor a log folder made just for it)."""
        leftovers = [script] + ([self.password_file] if remove_dir and self.password_file else [])
        for path in leftovers:
            try:
                os.remove(path)
            except OSError:
                pass
        if remove_dir:
            try:
                os.rmdir(self.log_dir)
            except OSError:
                pass

    def _record(self, store: Any, job_id: str, size: int, script: str,
                earlier: list[dict]) -> dict:
        """Record a submitted array in the store; if that fails, say how to cancel it."""
        record = {
            "scheduler": self.scheduler.name, "job_id": job_id,
            "short_id": self.scheduler.short_id(job_id), "size": size,
            "workers_per_job": self.per_job, "cpus_per_job": self.cpus_per_job,
            "exclusive": bool(self.settings.get("exclusive")),
            "cores_per_node": self.settings.get("cores_per_node"),
            "first_index": self.scheduler.first_index,
            "throttle": self.settings.get("throttle"), "walltime": self.walltime,
            "margin": self.margin, "script": script, "submitted": time.time(),
            "jugfile": self.jugfile, "jugdir": self.jugdir, "workdir": self.workdir,
            "job_name": self.job_name, "log_dir": self.log_dir, "stop_file": self.stop_file,
            "command": self.submit_command_line(script),
        }
        if self.pool is not None:
            record["pool"] = self.pool
        try:
            store.write_doc(STATE_NAMESPACE, state_name(self.scheduler.name, job_id), record)
        except (StoreError, OSError) as e:
            before = (f"\n(array(s) {', '.join(r['job_id'] for r in earlier)} submitted before "
                      f"it are recorded: 'jug submit --cancel' cancels those)" if earlier else "")
            raise NotRecorded(
                f"submitted {self.scheduler.name} array {job_id} ({size} worker(s)) but could "
                f"not record it in the store {self.jugdir}: {e}\n'jug submit --cancel' cannot "
                f"find it; to cancel it run: {shlex.join(self.scheduler.cancel_args([job_id]))}"
                f"{before}")
        return record


class NotRecorded(SubmitError):
    """An array was submitted but the store refused its record (the message says how to
    cancel it by hand)."""


def _write_script(path: str, text: str) -> None:
    """Write a job script with the umask's permissions (executable where the umask allows)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as e:
        raise SubmitError(f"cannot write the job script {path}: {e.strerror}; nothing was "
                          f"submitted")


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to a file only the user can read (0600 even if it existed before)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def state_name(scheduler: str, job_id: str) -> str:
    """The document name of a submitted array in the ``submit`` namespace."""
    return f"{scheduler}-" + re.sub(r"[^A-Za-z0-9_.\-]", "_", job_id)


def submitted_arrays(store: Any, jugfile: str | None = None) -> dict[str, dict]:
    """Every array recorded in ``store`` (for ``jugfile`` only, if given)."""
    docs = store.read_docs(STATE_NAMESPACE)
    if jugfile is None:
        return docs
    target = os.path.abspath(jugfile)
    return {k: d for k, d in docs.items() if d.get("jugfile") == target}


def cancel_arrays(store: Any, docs: Mapping[str, dict], settings: Mapping[str, Any] | None = None,
                  echo: Any = print) -> int:
    """Cancel the arrays of ``docs`` that are still queued, and forget all of them.

    One queue query per scheduler decides which arrays are alive; one line per cancelled
    array, oldest first (the caller sums up the rest); returns how many were cancelled.
    """
    by_sched: dict[str, list[tuple[str, dict]]] = {}
    for name, doc in docs.items():
        by_sched.setdefault(doc["scheduler"], []).append((name, doc))
    cancelled = 0
    for sched_name, items in by_sched.items():
        sched = get_scheduler(sched_name, settings)
        counts = sched.query([d["job_id"] for _n, d in items])
        items.sort(key=lambda item: float(item[1].get("submitted") or 0))
        alive = [d["job_id"] for _n, d in items if counts[d["job_id"]].alive]
        if alive:
            sched.cancel(alive)
            for jid in alive:
                c = counts[jid]
                echo(f"cancelled {sched_name} array {jid} ({c.running} running, "
                     f"{c.pending} pending)")
            cancelled += len(alive)
        for name, _doc in items:
            store.remove_doc(STATE_NAMESPACE, name)
    return cancelled
