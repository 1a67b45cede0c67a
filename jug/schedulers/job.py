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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..trust import search_upwards, trusted
from . import SchedulerError, get_scheduler
from .base import Scheduler

STATE_NAMESPACE = "submit"
DEFAULT_MIN_MARGIN = 300  # seconds
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class SubmitError(ValueError):
    """Bad settings for ``jug submit`` (reported to the user, nothing submitted)."""


_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: Any, what: str = "duration", bare_seconds: bool = True) -> int:
    """Seconds from ``[D-]HH:MM:SS``, ``[D-]HH:MM``, ``D-HH``, ``90m``, ``1h30m`` or ``300``.

    A bare number means seconds, except for walltimes (``bare_seconds=False``), where a SLURM
    user would read it as minutes: there it is an error asking for an explicit form.
    """
    raw = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?", raw)
    if m:
        days, hours, minutes, seconds = (int(x) if x else 0 for x in m.groups())
        if minutes >= 60 or seconds >= 60:
            raise SubmitError(f"malformed {what} '{raw}': minutes and seconds must be below 60")
        return days * 86400 + hours * 3600 + minutes * 60 + seconds
    m = re.fullmatch(r"(\d+)-(\d+)", raw)  # SLURM's days-hours
    if m:
        return int(m.group(1)) * 86400 + int(m.group(2)) * 3600
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        if bare_seconds:
            return int(float(raw))
        raise SubmitError(f"malformed {what} '{raw}': write HH:MM:SS, D-HH:MM:SS or e.g. 90m, 4h")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", raw.lower())
    if parts and re.fullmatch(r"(\s*\d+(\.\d+)?\s*[dhms])+\s*", raw.lower()):
        return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    raise SubmitError(f"malformed {what} '{raw}': write HH:MM:SS, D-HH:MM:SS or e.g. 90m, 4h")


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


def _sanitize_name(name: str, limit: int | None) -> str:
    """A job name every scheduler accepts (letters first, no spaces, PBS's 15 characters)."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "jug"
    if not clean[0].isalpha():
        clean = "j" + clean
    return clean[:limit] if limit else clean


def _auto_pythonpath(python: str) -> str | None:
    """The job's PYTHONPATH: the submitter's (SGE jobs start with a bare environment), with
    this jug's folder first if ``python`` cannot import this jug by itself; None if empty."""
    import jug

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

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], jugfile: str,
                      jugfile_args: list[str] | None = None, workdir: str | None = None) -> JobPlan:
        """Validate merged settings (see :mod:`jug.submit_profiles`) into a plan."""
        from .. import schedulers

        s = dict(settings)
        name = s.get("scheduler") or schedulers.detect()
        if not name:
            raise SubmitError("no scheduler given and none found on PATH (looked for sbatch, "
                              "qsub): use --scheduler slurm|pbs|torque|sge, or set "
                              "'scheduler:' in a profile")
        try:
            scheduler = get_scheduler(str(name), s)
        except SchedulerError as e:
            raise SubmitError(str(e))
        workers = _positive_int(s.get("workers"), "--workers")
        if workers is None:
            raise SubmitError("--workers must be at least 1")
        walltime = parse_duration(s.get("walltime"), "walltime", bare_seconds=False)
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
        workdir = os.path.abspath(workdir or os.getcwd())
        jugfile = os.path.abspath(jugfile)
        jugdir = s.get("jugdir")
        if jugdir in (None, ""):
            from ..backends import default_jugdir

            jugdir = default_jugdir(jugfile)
        elif jugdir == "dict_store":
            raise SubmitError("jugdir 'dict_store' lives in one process's memory: batch "
                              "workers need a shared store (a directory or redis://...)")
        elif "://" not in str(jugdir):
            jugdir = os.path.abspath(str(jugdir))
        stop_file = os.path.abspath(os.path.join(workdir, str(s.get("stop_file") or "STOP")))
        log_dir = os.path.abspath(os.path.join(workdir, str(s.get("log_dir") or "logs")))
        stem = Path(jugfile).stem
        limit = 15 if scheduler.name in ("pbs", "torque") else None
        job_name = _sanitize_name(str(s.get("job_name") or f"jug-{stem}"), limit)
        python = str(s.get("python") or sys.executable)
        pp = s.get("pythonpath")
        pythonpath = (_auto_pythonpath(python) if pp == "auto"
                      else None if pp in (None, "", "none") else str(pp))
        for raw in s.get("directive") or []:
            text = str(raw).strip()
            if text.startswith(scheduler.prefix):
                text = text[len(scheduler.prefix):].strip()
            option = scheduler.check_directive(text)
            if option:
                raise SubmitError(f"directive '{raw}' would override what jug sets itself; "
                                  f"use {option} instead (jug derives the time budget, the "
                                  f"array and the logs from these)")
        tdir = s.get("template_dir")
        if tdir and not Path(str(tdir)).expanduser().is_dir():
            raise SubmitError(f"--template-dir {tdir}: no such directory")
        scheduler.settings.update(s)
        return cls(scheduler=scheduler, jugfile=jugfile, jugdir=str(jugdir), workdir=workdir,
                   workers=workers, walltime=walltime, margin=margin, stop_file=stop_file,
                   log_dir=log_dir, job_name=job_name, python=python, pythonpath=pythonpath,
                   settings=s, jugfile_args=list(jugfile_args or []))

    # -- rendering ------------------------------------------------------------------------
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
        module = "jug.schedulers.worker" if self.scheduler.name == "sge" else "jug"
        cmd = [self.python, "-m", module, "execute", "--jugdir", self.jugdir,
               *[str(a) for a in self.settings.get("execute_args") or []], self.jugfile]
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
            "mem": s.get("mem"),
            "cpus_per_task": s.get("cpus_per_task"),
            "gpus": s.get("gpus"),
            "parallel_env": s.get("parallel_env") or "smp",
            "directives": [d[len(self.scheduler.prefix):].strip() for d in self.directive_lines()],
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
            "command": shlex.join(self.command()),
        }
        ctx.update(self.scheduler.template_context(ctx))
        return ctx

    def render(self, size: int | None = None) -> str:
        """The job script of an array of ``size`` workers (default: all of them)."""
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(self.template_search_path()),
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True,
                                 autoescape=False)
        env.filters["walltime"] = self.scheduler.format_walltime
        env.filters["memory"] = self.scheduler.format_memory
        env.filters["q"] = lambda v: shlex.quote(str(v))
        try:
            template = env.get_template(self.scheduler.template)
            text = template.render(**self.context(size or self.workers))
        except jinja2.TemplateError as e:
            where = f" ({e.filename}:{e.lineno})" if getattr(e, "filename", None) else ""
            raise SubmitError(f"cannot render the job script template "
                              f"{self.scheduler.template}{where}: {e}")
        return re.sub(r"\n{3,}", "\n\n", text)

    def sizes(self, workers: int | None = None) -> list[int]:
        """The arrays ``workers`` workers are split into (site array size limit)."""
        try:
            return self.scheduler.split(workers or self.workers)
        except SchedulerError:
            return [workers or self.workers]

    def script_path(self, part: int, parts: int, stamp: str) -> str:
        """Where the script of array ``part`` is written (in the log folder)."""
        suffix = f"_part{part + 1}" if parts > 1 else ""
        return os.path.join(self.log_dir, f"{self.job_name}_{stamp}{suffix}.sh")

    def submit_command_line(self, script: str) -> list[str]:
        """The exact submit command for ``script``."""
        return self.scheduler.submit_args(script)

    # -- submission -----------------------------------------------------------------------
    def submit(self, store: Any, workers: int | None = None, echo: Any = print) -> list[dict]:
        """Render, write and submit arrays for ``workers`` workers; record each in ``store``."""
        sizes = self.sizes(workers)
        texts = [self.render(size) for size in sizes]  # template errors before any side effect
        os.makedirs(self.log_dir, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        records = []
        for part, size in enumerate(sizes):
            script = self.script_path(part, len(sizes), stamp)
            with open(script, "w") as f:
                f.write(texts[part])
            os.chmod(script, 0o755)
            try:
                job_id = self.scheduler.submit(script, cwd=self.workdir)
            except SchedulerError as e:
                if records:
                    done = ", ".join(r["job_id"] for r in records)
                    raise SchedulerError(f"{e}\n(array(s) {done} were submitted before this "
                                         f"error and are recorded: 'jug submit --cancel' "
                                         f"cancels them)")
                raise
            record = {
                "scheduler": self.scheduler.name, "job_id": job_id,
                "short_id": self.scheduler.short_id(job_id), "size": size,
                "first_index": self.scheduler.first_index,
                "throttle": self.settings.get("throttle"), "walltime": self.walltime,
                "margin": self.margin, "script": script, "submitted": time.time(),
                "jugfile": self.jugfile, "jugdir": self.jugdir, "workdir": self.workdir,
                "job_name": self.job_name, "log_dir": self.log_dir, "stop_file": self.stop_file,
                "command": self.submit_command_line(script),
            }
            store.write_doc(STATE_NAMESPACE, state_name(self.scheduler.name, job_id), record)
            records.append(record)
            echo(f"submitted {self.scheduler.name} array {job_id}: {size} worker(s), script {script}")
        return records


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

    One queue query per scheduler decides which arrays are alive; returns how many were
    cancelled.
    """
    by_sched: dict[str, list[tuple[str, dict]]] = {}
    for name, doc in docs.items():
        by_sched.setdefault(doc["scheduler"], []).append((name, doc))
    cancelled = 0
    for sched_name, items in by_sched.items():
        sched = get_scheduler(sched_name, settings)
        counts = sched.query([d["job_id"] for _n, d in items])
        alive = [d["job_id"] for _n, d in items if counts[d["job_id"]].alive]
        if alive:
            sched.cancel(alive)
            for jid in alive:
                c = counts[jid]
                echo(f"cancelled {sched_name} array {jid} ({c.running} running, "
                     f"{c.pending} pending)")
            cancelled += len(alive)
        for name, doc in items:
            if doc["job_id"] not in alive:
                echo(f"{sched_name} array {doc['job_id']} is no longer queued")
            store.remove_doc(STATE_NAMESPACE, name)
    return cancelled
