"""Jug IO: ``NoLoad``, ``write_task_out``, ``write_metadata`` and ``print_task_summary_table``.

``write_task_out(result, oname, metadata_fname=None, metadata_format='yaml')`` is called in a
jugfile; it adds Tasks that, once ``result`` has run, write its value to ``oname`` and, if
asked, a metadata file.  The file never loses data (as ``str(array)`` would, abbreviating
with ``...``):

* a numpy array: ``.npy`` format (``numpy.save``) whatever the name, as Jug does;
* a name ending in ``.npy``: ``.npy`` format of ``numpy.asarray(value)`` (array data only);
* ``.json``: JSON (JSON data only, dict keys strings: ``json`` would silently turn ``1`` into
  ``"1"``);
* a text name (``.txt``, ``.csv``, ``.tsv``, ``.md``, ``.log``, ``.text``): a ``str`` as is;
* anything else (``.pkl``, no extension...): ``pickle`` (highest protocol).

A value that does not fit the format its name asks for is an :class:`OutputFormatError`
naming the task whose result it is; no file is written.

Files are written to a temporary name and moved into place (:func:`jug.utils.sync_move`), so a
reader never sees half a file.  Metadata holds the task name, hash, dependencies (names and
hashes), a summary of the arguments, and when the result was computed (the store's result file
time when the store has one, otherwise the time the metadata was written).
"""

from __future__ import annotations

import enum
import json
import os
import pickle
import sys
import tempfile
import time
from typing import Any, Callable, Iterable

from ._version import __version__
from .hash import hash_one
from .task import DerivedTask, Task, Tasklet, TaskLike, _find_dependencies
from .utils import sync_move

__all__ = ["NoLoad", "write_task_out", "write_metadata", "print_task_summary_table",
           "describe", "OutputFormat", "OutputFormatError", "output_format"]

METADATA_FORMATS = ("yaml", "json")


class NoLoad(DerivedTask):
    """Wrap a Task so a Task given it as an argument receives this NoLoad, not the value.

    It still depends on the Task (``base_tasks()`` is the base's), so the consumer only runs
    once the base has finished; it then decides itself whether to load the value
    (``jug.value(arg.base)``) or only look at ``arg.base.name``, ``arg.base.hash()``... The
    reference lists the attributes ``base``, ``f`` (None) and ``t`` (the base, again).
    """

    __slots__ = ("base", "f", "t")

    def __init__(self, base: TaskLike) -> None:
        if not isinstance(base, TaskLike):
            raise TypeError(f"NoLoad needs a Task or Tasklet, got {type(base).__name__}")
        self.base = base
        self.f = None
        self.t = base

    @property
    def name(self) -> str:
        """The name of the wrapped task (for listings)."""
        return self.base.name

    def hash(self) -> str:
        """A hash derived from the base's (the consumer's hash changes when the base's does)."""
        return hash_one(("jug.io.NoLoad", self.base.hash()))

    def __jug_hash__(self) -> str:
        """How jug.hash encodes this wrapper inside a consumer's arguments."""
        return "noload:" + self.base.hash()

    def is_loaded(self) -> bool:
        """Always True: there is nothing to load (the value is this object)."""
        return True

    def value(self) -> NoLoad:
        """What a consumer receives: this NoLoad (so the base's value is never loaded)."""
        return self

    def __repr__(self) -> str:
        return f"NoLoad({self.base!r})"


# -- describing a task -------------------------------------------------------------------

def _iso(ts: float) -> str:
    """A UTC timestamp in ISO 8601 (what metadata files hold)."""
    import datetime  # start-up time: only for metadata time stamps

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


def _summary(obj: Any, limit: int = 200) -> Any:
    """A short JSON/YAML-able summary of an argument: tasks by name and hash, values by repr."""
    if isinstance(obj, NoLoad):
        return {"noload": _summary(obj.base)}
    if isinstance(obj, TaskLike):
        return {"task": obj.name, "hash": obj.hash()}
    if obj is None:
        return None
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)  # subclasses (IntEnum...) as plain numbers, which YAML can write
    if isinstance(obj, float):
        return float(obj)
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.generic):
            return _summary(obj.item(), limit)
        if isinstance(obj, np.ndarray):
            return f"numpy.ndarray(shape={obj.shape}, dtype={obj.dtype})"
    if isinstance(obj, str):
        return obj if len(obj) <= limit else obj[:limit] + "..."
    if type(obj) in (list, tuple):
        items = [_summary(x, limit) for x in obj[:20]]
        if len(obj) > 20:
            items.append(f"... ({len(obj)} elements)")
        return items
    if type(obj) is dict and len(obj) <= 20:
        return {str(k): _summary(v, limit) for k, v in obj.items()}
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."


def _ran_at(task: TaskLike) -> tuple[float | None, str]:
    """When ``task``'s result was stored (file time of its result), if the store can tell."""
    bases = task.base_tasks()
    store = Task.store
    if store is None or not bases:
        return None, "unknown"
    times = []
    for b in bases:
        try:
            path = store.result_path(b.hash())
            times.append(os.stat(path).st_mtime)
        except (OSError, ValueError, TypeError, NotImplementedError):
            return None, "unknown"
    return max(times), "result file time"


def _dep_list(tasks: Iterable[TaskLike]) -> list[dict[str, str]]:
    """``[{name, hash}]`` of ``tasks``, each hash once, in order."""
    out = []
    seen: set[str] = set()
    for d in tasks:
        h = d.hash()
        if h not in seen:
            seen.add(h)
            out.append({"name": d.name, "hash": h})
    return out


def _no_load(obj: Any) -> Any:
    """``obj`` with every task inside (lists, tuples, dicts) wrapped in NoLoad."""
    if isinstance(obj, TaskLike):
        return obj if isinstance(obj, NoLoad) else NoLoad(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_no_load(x) for x in obj)
    if type(obj) is dict:
        return {k: _no_load(v) for k, v in obj.items()}
    return obj


def _unwrap(obj: Any) -> Any:
    """The inverse of :func:`_no_load`: the tasks a metadata writer was given as NoLoads."""
    if isinstance(obj, NoLoad):
        return obj.base
    if type(obj) in (list, tuple):
        return type(obj)(_unwrap(x) for x in obj)
    if type(obj) is dict:
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def describe(t: Any) -> dict[str, Any]:
    """Metadata of a task: name, hash, dependencies, argument summary, when it was computed."""
    if not isinstance(t, TaskLike):
        tasks = _find_dependencies((t,), {})
        if not tasks:
            return {"name": "value", "hash": hash_one(t), "dependencies": [],
                    "value": _summary(t)}
        # a container of tasks (e.g. the list jug.mapreduce.map returns)
        meta = {"name": f"{type(t).__name__} of {len(tasks)} tasks", "hash": hash_one(t),
                "dependencies": _dep_list(tasks), "value": _summary(t)}
        times = [_ran_at(x)[0] for x in tasks]
        known = [x for x in times if x is not None]
        meta["ran_at"] = _iso(max(known)) if known and len(known) == len(times) else None
        meta["ran_at_source"] = "result file time" if meta["ran_at"] else "unknown"
        return meta
    meta: dict[str, Any] = {"name": t.name, "hash": t.hash()}
    if isinstance(t, Tasklet):
        meta["tasklet_of"] = {"name": t.base.name, "hash": t.base.hash()}
        meta["args"] = []
        meta["kwargs"] = {}
    elif isinstance(t, Task):
        meta["args"] = [_summary(a) for a in t.args]
        meta["kwargs"] = {k: _summary(v) for k, v in t.kwargs.items()}
    meta["dependencies"] = _dep_list(t.dependencies())
    ts, source = _ran_at(t)
    meta["ran_at"] = _iso(ts) if ts is not None else None
    meta["ran_at_source"] = source
    return meta


# -- writing files ---------------------------------------------------------------------------

def _atomic_write(fname: str, write: Callable[[Any], None], binary: bool) -> None:
    """Write through ``write(fileobj)`` to a temporary file beside ``fname``, then move it."""
    folder = os.path.dirname(os.path.abspath(fname))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".jug-tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
        sync_move(tmp, fname)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class OutputFormatError(ValueError):
    """A result cannot be written, without loss, in the format its output file name asks for."""


#: extensions whose files hold text: a ``str`` result is written as is
TEXT_EXTENSIONS = (".txt", ".text", ".csv", ".tsv", ".md", ".log")
_HINT = "Name the file .pkl (any picklable value), .npy (arrays) or .json (JSON data)."


def _is_ndarray(obj: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def _npy_bytes(result: Any) -> bytes:
    """``result`` in .npy format; only arrays, or values numpy turns into a non-object array."""
    import io  # start-up time: only for arrays

    import numpy as np  # start-up time: numpy loads only for arrays

    arr = result
    if not _is_ndarray(result):
        try:
            arr = np.asarray(result)
        except ValueError as e:
            raise OutputFormatError(f"numpy cannot make an array of it ({e})") from None
        if arr.dtype.hasobject:
            raise OutputFormatError(f"it is a {type(result).__name__}, not array data")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def _json_check(obj: Any) -> None:
    """Refuse what json.dump would change silently: dict keys that are not strings."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            bad = next((k for k in o if not isinstance(k, str)), None)
            if bad is not None:
                raise OutputFormatError(f"the dict key {bad!r} would become the string "
                                        f"{json.dumps(str(bad))}")
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)


def _json_bytes(result: Any) -> bytes:
    _json_check(result)
    try:
        return json.dumps(result, indent=1).encode()
    except (TypeError, ValueError) as e:
        raise OutputFormatError(str(e)) from None


def _text_bytes(result: Any) -> bytes:
    if not isinstance(result, str):
        raise OutputFormatError(f"it is a {type(result).__name__}; text files hold a str")
    return result.encode("utf-8")


def _pickle_bytes(result: Any) -> bytes:
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise OutputFormatError(f"it cannot be pickled ({e})") from None


class OutputFormat(str, enum.Enum):
    """The formats write_task_out writes (the value is the name messages use)."""

    NPY = ".npy"
    JSON = "JSON"
    TEXT = "text"
    PICKLE = "pickle"


def output_format(result: Any, oname: str) -> OutputFormat:
    """The format of ``result`` written to ``oname``: arrays .npy always, else by extension."""
    lower = oname.lower()
    if _is_ndarray(result) or lower.endswith(".npy"):
        return OutputFormat.NPY
    if lower.endswith(".json"):
        return OutputFormat.JSON
    if lower.endswith(TEXT_EXTENSIONS):
        return OutputFormat.TEXT
    return OutputFormat.PICKLE


_ENCODERS: dict[OutputFormat, Callable[[Any], bytes]] = {
    OutputFormat.NPY: _npy_bytes, OutputFormat.JSON: _json_bytes,
    OutputFormat.TEXT: _text_bytes, OutputFormat.PICKLE: _pickle_bytes}


def _write_task_out(result: Any, oname: str, source: str = "value") -> str:
    """Task body: write the value of task ``source`` to ``oname``; returns ``oname``.

    The whole content is encoded before the file is opened, so a value that does not fit
    the format leaves no file, only an error naming the task.
    """
    oname = os.fspath(oname)
    fmt = output_format(result, oname)
    try:
        content = _ENCODERS[fmt](result)
    except OutputFormatError as e:
        raise OutputFormatError(
            f"jug.io.write_task_out: the result of task {source} cannot be written as "
            f"{fmt.value} to {oname}: {e}. {_HINT}") from None
    _atomic_write(oname, lambda f: f.write(content), True)
    return oname


def _dump_metadata(meta: dict, metadata_fname: str, metadata_format: str) -> None:
    """Write ``meta`` as YAML or JSON."""
    if metadata_format == "json":
        _atomic_write(metadata_fname, lambda f: (json.dump(meta, f, indent=2), f.write("\n")),
                      False)
    else:
        import yaml  # start-up time: PyYAML loads only for YAML files

        _atomic_write(metadata_fname,
                      lambda f: yaml.safe_dump(meta, f, default_flow_style=False, sort_keys=False),
                      False)


def _write_metadata(task: TaskLike, metadata_fname: str, metadata_format: str) -> str:
    """Task body: describe the finished task (received unloaded via NoLoad) into a file."""
    meta = describe(_unwrap(task))
    now = _iso(time.time())
    meta["written_at"] = now
    if meta.get("ran_at") is None:
        meta["ran_at"] = now
        meta["ran_at_source"] = "metadata write time"
    meta["jug_version"] = __version__
    _dump_metadata(meta, os.fspath(metadata_fname), metadata_format)
    return os.fspath(metadata_fname)


def _check_format(metadata_format: str) -> str:
    """Normalise and validate the metadata format name ('yaml'/'yml' or 'json')."""
    fmt = str(metadata_format).lower()
    if fmt == "yml":
        fmt = "yaml"
    if fmt not in METADATA_FORMATS:
        raise ValueError(f"metadata_format must be 'yaml' or 'json', got {metadata_format!r}")
    return fmt


def write_metadata(result: Any, metadata_fname: str, metadata_format: str = "yaml") -> Task:
    """Add a Task writing metadata on ``result`` (a Task) to ``metadata_fname`` once it has run."""
    fmt = _check_format(metadata_format)
    return Task(_write_metadata, _no_load(result), os.fspath(metadata_fname), fmt)


def write_task_out(result: Any, oname: str, metadata_fname: str | None = None,
                   metadata_format: str = "yaml") -> Task:
    """Add Tasks writing ``result``'s value to ``oname`` (and metadata if ``metadata_fname``).

    Returns the Task writing ``oname`` (its value is ``oname``).
    """
    if metadata_fname is not None:
        write_metadata(result, metadata_fname, metadata_format)
    source = result.name if isinstance(result, TaskLike) else type(result).__name__
    return Task(_write_task_out, result, os.fspath(oname), source)


# -- status-like tables ----------------------------------------------------------------------

def _counts(group: Any) -> dict[str, int]:
    """A group's ``{task_name: count}`` (a dict, Counter or iterable of pairs)."""
    if isinstance(group, dict):
        return {str(k): int(v) for k, v in group.items()}
    return {str(k): int(v) for k, v in group}


def print_task_summary_table(options: Any, groups: Iterable[tuple[str, Any]]) -> str:
    """Print a table with one column per group and one row per task name, plus totals.

    ``groups`` is ``[(title, {task_name: count})]``.  Printing goes through
    ``options.print_out`` when the options have one (else ``print``); the text is returned.
    """
    groups = [(str(title), _counts(g)) for title, g in groups]
    names: list[str] = []
    seen: set[str] = set()
    for _title, g in groups:
        for n in g:
            if n not in seen:
                seen.add(n)
                names.append(n)
    names.sort()
    width = max([10, *(len(title) + 2 for title, _ in groups)])
    header = "".join(f"{title:>{width}}" for title, _ in groups) + "  Task name"
    name_width = max([len("Task name"), *(len(n) for n in names)])
    rule_len = len(header) - len("Task name") + name_width
    lines = [header, "-" * rule_len]
    for n in names:
        lines.append("".join(f"{g.get(n, 0):>{width}}" for _t, g in groups) + "  " + n)
    lines.append("." * rule_len)
    lines.append("".join(f"{sum(g.values()):>{width}}" for _t, g in groups) + "  Total")
    text = "\n".join(lines)
    printer = getattr(options, "print_out", None)
    if not callable(printer):
        printer = print
    printer(text)
    if printer is print:
        sys.stdout.flush()
    return text

