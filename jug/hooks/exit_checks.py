"""Exit checks: conditions under which a ``jug execute`` worker stops taking new tasks.

Checks are evaluated before each task starts and while the worker waits idle for others,
so a STOP file drains busy and idle workers alike.  ``jug execute`` registers the
environment-variable checks (:func:`exit_env_vars`) by default; a jugfile can add more.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping

# (description, predicate(last_task or None) -> bool)
_checks: list[tuple[str, Callable[[Any], bool]]] = []
_state = {"tasks_run": 0}
_deadlines: list[float] = []  # monotonic times after which no task may start


def reset() -> None:
    """Remove every registered check (a fresh worker)."""
    _checks.clear()
    _deadlines.clear()
    _state["tasks_run"] = 0


def checkpoint() -> tuple[int, int]:
    """A mark of the checks registered so far (see :func:`rollback`)."""
    return len(_checks), len(_deadlines)


def rollback(mark: tuple[int, int]) -> None:
    """Forget checks registered after ``mark`` (a jugfile re-loaded past a barrier adds them again)."""
    del _checks[mark[0]:]
    del _deadlines[mark[1]:]


def task_finished(task: Any) -> None:
    """Record that ``task`` finished running (used by count- and task-based checks)."""
    _state["tasks_run"] += 1
    if not _checks:  # the usual case, once per task
        return
    for _desc, check in list(_checks):
        hook = getattr(check, "after_task", None)
        if hook is not None:
            hook(task)


def armed() -> bool:
    """True if any check or time limit is registered (none: nothing to ask before a task)."""
    return bool(_checks or _deadlines)


def should_exit() -> str | None:
    """The description of the first check that fires, or None to keep working."""
    for desc, check in _checks:
        if check(None):
            return desc
    return None


def exit_after_n_tasks(n: int) -> None:
    """Exit after ``n`` tasks have been executed by this process."""
    n = int(n)
    start = _state["tasks_run"]
    _checks.append((f"executed {n} tasks (JUG_MAX_TASKS / exit_after_n_tasks)",
                    lambda _t: _state["tasks_run"] - start >= n))


def exit_after_time(hours: float = 0, minutes: float = 0, seconds: float = 0,
                    since: float | None = None) -> None:
    """Stop starting new tasks once the given time has passed since this call, or since the
    Unix time ``since`` (a batch job's start: what its prologue took counts against it)."""
    limit = float(hours) * 3600 + float(minutes) * 60 + float(seconds)
    spent = 0.0 if since is None else max(0.0, time.time() - since)
    deadline = time.monotonic() + limit - spent
    _deadlines.append(deadline)
    origin = " since the job started (JUG_JOB_START)" if since is not None else ""
    _checks.append((f"time limit of {limit:g} s reached{origin} (JUG_MAX_HOURS/MINUTES/SECONDS)",
                    lambda _t: time.monotonic() >= deadline))


def time_left() -> float | None:
    """Seconds until the earliest time limit, or None when no time limit is set."""
    if not _deadlines:
        return None
    return min(_deadlines) - time.monotonic()


def exit_if_file_exists(fname: str) -> None:
    """Stop starting new tasks as soon as ``fname`` exists (e.g. ``touch STOP``)."""
    path = os.path.abspath(fname)
    _checks.append((f"stop file {path} exists", lambda _t: os.path.exists(path)))


class _WhenTrue:
    """Check calling ``f()`` (or ``f(task)`` after each task) and firing when it is true."""

    def __init__(self, f: Callable, takes_task: bool) -> None:
        self.f = f
        self.takes_task = takes_task
        self.fired = False

    def after_task(self, task: Any) -> None:
        if self.takes_task and self.f(task):
            self.fired = True

    def __call__(self, _task: Any) -> bool:
        if self.takes_task:
            return self.fired
        if not self.fired and self.f():
            self.fired = True
        return self.fired


def exit_when_true(f: Callable, function_takes_Task: bool = False) -> None:
    """Exit when ``f()`` returns true (with ``function_takes_Task``: ``f(task)`` after each task)."""
    _checks.append((f"exit_when_true({getattr(f, '__name__', f)!s})",
                    _WhenTrue(f, function_takes_Task)))


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def exit_env_vars(environ: Mapping[str, str] | None = None) -> None:
    """Register the checks the environment asks for.

    JUG_MAX_TASKS (count), JUG_MAX_HOURS / JUG_MAX_MINUTES / JUG_MAX_SECONDS (added up,
    counted from JUG_JOB_START, a Unix time, when set: ``jug submit``'s job scripts export it
    at their first line, so a slow prologue eats the budget, not the margin before the
    walltime), JUG_EXIT_IF_FILE_EXISTS (path).  Unset variables are ignored; bad numbers raise.
    """
    env = os.environ if environ is None else environ
    if env.get("JUG_MAX_TASKS"):
        n = _number("JUG_MAX_TASKS", env["JUG_MAX_TASKS"])
        if n != int(n):
            raise ValueError(f"JUG_MAX_TASKS must be an integer, got {env['JUG_MAX_TASKS']!r}")
        exit_after_n_tasks(int(n))
    parts = {}
    for unit in ("HOURS", "MINUTES", "SECONDS"):
        raw = env.get(f"JUG_MAX_{unit}")
        if raw:
            parts[unit.lower()] = _number(f"JUG_MAX_{unit}", raw)
    if parts:
        start = env.get("JUG_JOB_START")  # the job script's first line: $(date +%s)
        exit_after_time(**parts, since=_number("JUG_JOB_START", start) if start else None)
    if env.get("JUG_EXIT_IF_FILE_EXISTS"):
        exit_if_file_exists(env["JUG_EXIT_IF_FILE_EXISTS"])
