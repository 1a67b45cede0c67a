"""Loading a jugfile: run it as a module, collect its Tasks, stop cleanly at barriers.

Errors of the user's code (a jugfile that raises here, a task that fails in the worker) are
shown with the user's frames only (:func:`user_traceback`): frames inside jug (the worker
loop, the store) are noise, and for a mistake jug reports clearly (a lambda as Task, an
unpicklable result) they make it look like jug crashed.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from . import task as _task
from .backends import Store, default_jugdir, select_store
from .barrier import BarrierError

_JUG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class JugfileError(Exception):
    """The jugfile is missing or raised while loading; the message says which and why."""


@dataclass
class Loaded:
    """A loaded jugfile: its namespace, its Tasks, and whether a barrier stopped it early."""

    path: str
    namespace: dict
    tasks: list
    store: Store
    incomplete: bool = False
    barrier_message: str = ""
    extra: dict = field(default_factory=dict)


def module_name(jugfile: str) -> str:
    """The module name a jugfile runs as (its file name without .py): task names start with it."""
    base = os.path.basename(jugfile)
    return base[:-3] if base.endswith(".py") else base


def open_store(jugfile: str, jugdir: Any) -> Store:
    """The store for ``jugfile``: ``jugdir`` if given, else ``<jugfile>.jugdata`` beside it."""
    return select_store(jugdir if jugdir else default_jugdir(jugfile))


def load(jugfile: str, store: Store, argv: list[str] | None = None) -> Loaded:
    """Run ``jugfile`` and return its tasks; raises JugfileError if it is missing or raises."""
    path = os.path.abspath(jugfile)
    if not os.path.exists(path):
        raise JugfileError(f"jugfile not found: {jugfile} (looked in {os.getcwd()})")
    try:
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, path, "exec")
    except SyntaxError:
        import traceback  # start-up time: only when something failed

        raise JugfileError(f"cannot load jugfile {jugfile}:\n{traceback.format_exc(limit=0)}") from None
    except OSError as e:
        raise JugfileError(f"cannot read jugfile {jugfile}: {e}") from None

    name = module_name(path)
    module = types.ModuleType(name)
    module.__file__ = path
    ns = module.__dict__
    _task._reset_registry()
    _task.Task.store = store
    _task.register_module(name, module)
    folder = os.path.dirname(path)
    if sys.path[:1] != [folder]:
        sys.path.insert(0, folder)
    old_argv = sys.argv
    sys.argv = [path, *(argv or [])]
    loaded = Loaded(path, ns, _task.registered_tasks(), store)
    try:
        exec(code, ns)
    except BarrierError as e:
        loaded.incomplete = True
        loaded.barrier_message = str(e)
    except SystemExit as e:
        raise JugfileError(f"jugfile {jugfile} called sys.exit({e.code}) while loading") from None
    except Exception as e:
        raise JugfileError(_load_error(jugfile, e)) from None
    finally:
        sys.argv = old_argv
    return loaded


def _load_error(jugfile: str, e: Exception) -> str:
    """What went wrong loading ``jugfile``: jug's own clear errors (a lambda as Task...) as
    ``<jugfile>, line N: message``; anything else with the user's frames of the traceback."""
    if isinstance(e, _task.TaskError):
        import traceback  # start-up time: only when something failed

        frames = traceback.extract_tb(e.__traceback__)
        mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(jugfile)]
        where = f", line {mine[-1].lineno}" if mine else ""
        return f"{jugfile}{where}: {e}"
    return f"error while loading jugfile {jugfile}:\n{user_traceback(e)}"


#: the jugdir the reference names as jug.init's default
REFERENCE_JUGDIR = "jugdata"


def init_jugdir(jugfile: str, jugdir: Any) -> Any:
    """The jugdir jug.init uses: ``jugdir`` if given, else what already holds the results.

    That is ``<jugfile>.jugdata`` (where ``jug execute`` puts them) unless only ``./jugdata``
    (the reference's default, what older scripts used) exists.
    """
    if jugdir:
        return jugdir
    own = default_jugdir(jugfile)
    if not os.path.exists(own) and os.path.isdir(REFERENCE_JUGDIR):
        return os.path.abspath(REFERENCE_JUGDIR)
    return own


def init(jugfile: str | None = None, jugdir: Any = None, on_error: str = "exit",
         store: Store | None = None) -> tuple[Store, dict]:
    """Open the store and load ``jugfile`` (default ``jugfile.py``); returns (store, namespace).

    Without ``jugdir`` the store is ``<jugfile>.jugdata`` beside the jugfile, the one ``jug
    execute`` uses, so a script reads what the command line computed; but when that does not
    exist and ``./jugdata`` (the reference's default) does, ``./jugdata`` is used.
    """
    if jugfile is None:
        jugfile = "jugfile.py"
    if not jugfile.endswith(".py") and not os.path.exists(jugfile):
        jugfile = jugfile + ".py"
    if store is None:
        store = open_store(jugfile, init_jugdir(jugfile, jugdir))
    try:
        loaded = load(jugfile, store)
    except JugfileError as e:
        if on_error == "exit":
            print(str(e), file=sys.stderr)
            raise SystemExit(1)
        raise
    return store, loaded.namespace


def set_jugdir(jugdir: Any) -> Store:
    """Select the store Tasks use (the programmatic ``--jugdir``); returns it."""
    store = select_store(jugdir)
    _task.Task.store = store
    return store


def is_jug_running() -> bool:
    """True under the ``jug`` command line (``jug execute``, ``jug shell``, ``jug status``...);
    False from plain Python, also after ``jug.init`` (as in Jug): scripts use it to tell
    "I am being run by jug" from "I am analysing results"."""
    return _task.running[0]


def user_traceback(exc: BaseException) -> str:
    """``exc`` formatted with only the frames outside jug's package (no header if none)."""
    import traceback  # start-up time: only when something failed

    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_JUG_DIR)]
    tail = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return tail
    return ("Traceback (most recent call last):\n"
            + "".join(traceback.StackSummary.from_list(frames).format()) + tail)


def _frame_path(line: str) -> str | None:
    """The file of a traceback line ``  File "path", line N, in f`` (None: not a frame)."""
    if not line.startswith('  File "'):
        return None
    end = line.find('", line ')
    return line[8:end] if end > 8 else None


def trim_traceback_text(text: str) -> str:
    """A formatted traceback (as stored) without jug's own frames: each frame line and the
    source lines under it go when its file is inside jug's package."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        path = _frame_path(line)
        if path is not None:
            skipping = os.path.abspath(path).startswith(_JUG_DIR)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)
