"""Tasks: the unit of work, their dependencies, hashes and results.

The one piece of global state the documented API forces lives here: :data:`alltasks`, the
Tasks a jugfile defined (in definition order, which is a topological order), and
``Task.store``, the store they save to.  Only this module changes the registry: ``Task()``
registers, :func:`unregister` and :func:`_reset_registry` remove; other modules read it with
:func:`registered_tasks`.
"""

from __future__ import annotations

import reprlib
import sys
import types
from hashlib import sha1
from typing import Any, Callable, Iterator, Sequence

from .hash import (
    ENCODING_VERSION,
    UnhashableError,
    hash_one,
    hash_update,
    json_scalars,
    new_hasher,
    only_scalars,
)

__all__ = [
    "Task", "TaskGenerator", "Tasklet", "iteratetask", "value", "recursive_dependencies",
    "alltasks", "TaskLike",
]

#: every Task defined since the jugfile started loading, in definition order
alltasks: list[Task] = []
#: True once the ``jug`` command line runs (``jug execute``, ``jug shell``...); never set by
#: ``jug.init`` from plain Python, so a script can tell "run by jug" from "analysing results"
running: list[bool] = [False]

_NOT_LOADED = object()
_PLAIN_TYPES = frozenset((int, float, str, bool, type(None), bytes))
_TRACK_AFTER = 1000  # containers a dependency scan visits before it remembers which


class TaskError(Exception):
    """Misuse of the Task API (lambda given, value of a task that has not run...)."""


class TaskFunctionError(TaskError, ValueError):
    """What was given as a task's function cannot be one (a lambda, no name, not callable).

    Also a ValueError: that is what Jug raises, so user code written for Jug catches it.
    """


class ArgumentHashError(TaskError):
    """An argument of a task cannot be hashed (unhashable object, a cycle): says which."""


_names: dict[Any, str] = {}  # function -> checked task name (Task creation is hot)


def _function_name(f: Callable) -> str:
    try:
        return _names[f]
    except (KeyError, TypeError):
        pass
    _check_function(f)
    module = getattr(f, "__module__", None) or "__main__"
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None)
    if name is None:
        raise TaskFunctionError(f"cannot make a Task of {f!r}: it has no __name__ (pass a named function)")
    full = f"{module}.{name}"
    try:
        _names[f] = full
    except TypeError:
        pass
    return full


def _check_function(f: Callable) -> None:
    if not callable(f):
        raise TaskFunctionError(f"Task needs a function as first argument, got {f!r}")
    if getattr(f, "__name__", None) == "<lambda>":
        raise TaskFunctionError(
            "jug cannot use a lambda as a Task function: a lambda has no stable name, so its "
            "results could not be found again. Define it with 'def name(...):' at module level.")


def _find_dependencies(args: tuple, kwargs: dict, known: dict | None = None) -> list[TaskLike]:
    """Every Task/Tasklet inside ``args``/``kwargs`` (through lists, tuples, dicts, sets).

    A self-referencing argument must not loop here (hashing reports it): past a thousand
    containers, each is visited once more at most.  Long lists of plain values are skipped
    after one scan, whose encoding goes into ``known`` (and an open
    :func:`jug.hash.hash_session`) for the hashing that follows.
    """
    found: list[TaskLike] = []
    stack: list[Any] = list(args)
    if kwargs:
        stack.extend(kwargs.values())
    visited = 0
    seen: set[int] | None = None  # after _TRACK_AFTER containers: each container once more
    while stack:
        o = stack.pop()
        t = type(o)
        if t in _PLAIN_TYPES:
            continue
        if isinstance(o, TaskLike):
            found.append(o)
            continue
        if t is list or t is tuple or t is set or t is frozenset or t is dict:
            visited += 1
            if visited > _TRACK_AFTER:
                seen = seen if seen is not None else set()
                if id(o) in seen:
                    continue
                seen.add(id(o))
            if t is dict:
                stack.extend(o.keys())
                stack.extend(o.values())
            elif len(o) <= 16 or not only_scalars(o, _PLAIN_TYPES, known):
                stack.extend(o)
    found.reverse()
    return found


def value(obj: Any) -> Any:
    """Replace every Task/Tasklet inside ``obj`` (lists, tuples, dicts) by its result."""
    if isinstance(obj, TaskLike):
        return obj.value()
    t = type(obj)
    if t in _PLAIN_TYPES:
        return obj
    if t is list:
        if len(obj) > 16 and set(map(type, obj)) <= _PLAIN_TYPES:
            return obj
        return [value(x) for x in obj]
    if t is tuple:
        return tuple(value(x) for x in obj)
    if t is dict:
        return {value(k): value(v) for k, v in obj.items()}
    if t is set or t is frozenset:
        return t(value(x) for x in obj)
    jv = getattr(obj, "__jug_value__", None)  # wrappers such as jug.utils.CustomHash
    if jv is not None and not isinstance(obj, type):
        return jv()
    return obj


class TaskLike:
    """What Task, Tasklet and NoLoad share: subscripting, dependencies, recursive unload."""

    __slots__ = ()

    def __getitem__(self, index: Any) -> Tasklet:
        return Tasklet(self, _Getitem(index))

    def dependencies(self) -> Iterator[TaskLike]:
        """The first-level dependencies of this task."""
        return iter(self._deps())

    def _deps(self) -> Sequence[TaskLike]:
        raise NotImplementedError

    def unload_recursive(self) -> None:
        """Unload this task and every task it depends on."""
        self.unload()
        for t in recursive_dependencies(self):
            t.unload()

    def base_tasks(self) -> list[Task]:
        """The stored Tasks this object's value is computed from (itself for a Task)."""
        raise NotImplementedError


class Task(TaskLike):
    """``Task(f, dep0, dep1, ..., kw=val)``: the future result of ``f(dep0, dep1, ..., kw=val)``."""

    __slots__ = ("f", "args", "kwargs", "name", "_hash", "_result", "_unsaved", "_dep_list",
                 "__weakref__", "__dict__")

    #: the store Tasks save to (set by jug.init / set_jugdir / the command line)
    store: Any = None

    def __init__(self, f: Callable, *args: Any, **kwargs: Any) -> None:
        self._fill(f, _function_name(f), args, kwargs)

    def _fill(self, f: Callable, name: str, args: tuple, kwargs: dict) -> None:
        """Set every field of a new task and register it (the one place that does)."""
        self.name = name
        self.f = f
        self.args = args
        self.kwargs = kwargs
        self._hash: str | None = None
        self._result: Any = _NOT_LOADED
        self._unsaved = False  # _result came from run(save=False): not in the store
        self._dep_list: Sequence[TaskLike] | None = None
        alltasks.append(self)

    # -- identity ------------------------------------------------------------------
    def hash(self) -> str:
        """The hex hash of this task: its function name and (hashes of) its arguments."""
        h = self._hash
        if h is None:
            if self._dep_list is None and not self.kwargs:  # the common tiny task: no scan
                fast = json_scalars(self.args)
                if fast is not None:
                    self._dep_list = _NO_DEPS  # plain scalars hold no dependency
                    hit = _plain_keys.get(self.name)
                    if hit is None or hit[0] is not self.f:  # (a bound method never is)
                        return self._scalar_hash(fast)
                    h = self._hash = _scalar_task_hash(hit[1], fast)
                    return h
            known = None
            if self._dep_list is None:  # the scan's encodings of long lists serve the hashing
                known = {}
                self._dep_list = _find_dependencies(self.args, self.kwargs, known)
            for d in self._dep_list:
                if type(d) is not Task or d._hash is None:
                    _ensure_dependency_hashes(self)
                    break
            h = self._hash or self._compute_hash(known)
        return h

    def _compute_hash(self, known: dict | None = None) -> str:
        args = self.args
        if not self.kwargs:
            fast = json_scalars(args)
            if fast is not None:
                return self._scalar_hash(fast)
        try:
            name = _function_key(self.f, self.name)
            hasher = new_hasher()
            hasher.update(b"\0task\0" + name + b"\0")
            hash_update(hasher, args, known)
            if self.kwargs:
                hash_update(hasher, self.kwargs, known)
        except UnhashableError as e:
            raise ArgumentHashError(_unhashable_message(self, e)) from None
        self._hash = hasher.hexdigest()
        return self._hash

    def _scalar_hash(self, fast: bytes) -> str:
        """The hash of a task whose positional arguments are plain scalars encoded as ``fast``."""
        try:
            name = _function_key(self.f, self.name)
        except UnhashableError as e:
            raise ArgumentHashError(_unhashable_message(self, e)) from None
        h = self._hash = _scalar_task_hash(name, fast)
        return h

    def __jug_hash__(self) -> str:
        return "task:" + self.hash()

    def __repr__(self) -> str:
        """``Task(module.f, arg0, ..., kw=val)``, each argument abbreviated (for logs, shells)."""
        return f"Task({', '.join([self.name, *self._arg_reprs()])})"

    def call_repr(self) -> str:
        """``module.f(arg0, ..., kw=val)``: the call, each argument abbreviated (a task among
        them named, never expanded), e.g. above a failed task's traceback."""
        return f"{self.name}({', '.join(self._arg_reprs())})"

    def _arg_reprs(self) -> list[str]:
        parts = [_ARG_REPR.repr(a) for a in self.args[:_MAX_REPR_ARGS]]
        if len(self.args) > _MAX_REPR_ARGS:
            parts.append("...")
        parts.extend(f"{k}={_ARG_REPR.repr(v)}" for k, v in self.kwargs.items())
        return parts

    # -- dependencies ----------------------------------------------------------------
    def _deps(self) -> Sequence[TaskLike]:
        d = self._dep_list
        if d is None:
            d = self._dep_list = _find_dependencies(self.args, self.kwargs)
        return d

    def base_tasks(self) -> list[Task]:
        return [self]

    def can_run(self) -> bool:
        """True if every dependency has its result available."""
        return all(d.can_load() for d in self._deps())

    # -- results -------------------------------------------------------------------
    def can_load(self, store: Any = None) -> bool:
        """True if the result is in the store (or loaded from / saved to it here)."""
        if self._result is not _NOT_LOADED and not self._unsaved:
            return True
        return (store or self.store).can_load(self.hash())

    def is_loaded(self) -> bool:
        """True if the result is held in memory."""
        return self._result is not _NOT_LOADED

    def load(self) -> None:
        """Load the result from the store (always reads, even if already loaded)."""
        self._result = self.store.load(self.hash())
        self._unsaved = False

    def unload(self) -> None:
        """Drop the in-memory result (it stays in the store)."""
        self._result = _NOT_LOADED
        self._unsaved = False

    def value(self) -> Any:
        """The result, loaded from the store if needed."""
        if self._result is _NOT_LOADED:
            if self.store is None:
                raise TaskError(f"no store is set: call jug.init() or jug.set_jugdir() before value({self.name})")
            try:
                self._result = self.store.load(self.hash())
            except KeyError:
                raise TaskError(
                    f"task {self.name} ({self.hash()}) has no result yet in {self.store.description}: "
                    "run 'jug execute' first") from None
        return self._result

    @property
    def result(self) -> Any:
        """Result value (loaded on first access)."""
        return self.value()

    def run(self, force: bool = False, save: bool = True, debug_mode: bool = False) -> Any:
        """Compute the result (unless already stored and not ``force``), return it.

        With ``save=False`` the result stays only in memory: ``can_load()`` stays False and
        dependent tasks cannot run until a saving run (which then stores the value it holds).
        """
        if not force and self._result is not _NOT_LOADED:
            if save and self._unsaved:
                self.store.save(self.hash(), self._result)
                self._unsaved = False
            return self._result
        if not force and self.store is not None and save and self.store.can_load(self.hash()):
            return self.value()
        # plain scalars (the hash said so) hold no Task to replace by its value
        args = self.args if self._dep_list is _NO_DEPS else value(self.args)
        kwargs = value(self.kwargs) if self.kwargs else {}
        if debug_mode:
            before = _hash_args(args, kwargs)
        result = self.f(*args, **kwargs)
        if debug_mode and before is not None and _hash_args(args, kwargs) != before:
            raise TaskError(f"task {self.name} modified its arguments (debug mode check)")
        if save:
            self.store.save(self.hash(), result)
        self._result = result
        self._unsaved = not save
        return result

    def invalidate(self) -> None:
        """Remove this task's result from the store (``t.store.remove(t.hash())``)."""
        self.unload()
        self.store.remove(self.hash())

    # -- locks -----------------------------------------------------------------------
    def lock(self) -> bool:
        """Try to take this task's lock; True if this process now holds it."""
        return self.store.lock(self.hash())

    def unlock(self) -> None:
        """Release this task's lock."""
        self.store.unlock(self.hash())

    def is_locked(self) -> bool:
        """True if the lock appears held (only lock() is an atomic test)."""
        return self.store.is_locked(self.hash())

    def fail(self, info: dict | None = None) -> None:
        """Mark the task as failed; the lock must be held by this process."""
        owner = self.store.lock_owner(self.hash())
        if owner is None:
            raise TaskError(f"fail() on task {self.name} whose lock is not held")
        self.store.fail(self.hash(), {"task": self.name, **(info or {})})

    def is_failed(self) -> bool:
        """True if the task is marked failed."""
        return self.store.is_failed(self.hash())


class _ArgRepr(reprlib.Repr):
    """Short reprs of task arguments: a task inside is named, never expanded.

    Expanding would make the repr of a long chain as long as the chain (and recurse as deep).
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 40
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 6
        self.maxlevel = 3

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, TaskLike):
            return f"{type(x).__name__}({x.name}, ...)"
        return super().repr1(x, level)


_ARG_REPR = _ArgRepr()
_MAX_REPR_ARGS = 6


_new_object = object.__new__
#: the dependencies of a task whose arguments are plain scalars (shared: a list per task
#: would cost jug status 56 bytes and an allocation for each of millions of tasks)
_NO_DEPS: tuple = ()


def _scalar_task_hash(function_key: bytes, args: bytes) -> str:
    """The hash of a task whose positional arguments are plain scalars encoded as ``args``."""
    return sha1(b"%s\0task\0%s\0A%s" % (ENCODING_VERSION, function_key, args)).hexdigest()


#: name -> (the function, its key), for functions whose name alone identifies them
_plain_keys: dict[str, tuple[Callable, bytes]] = {}


def _function_key(f: Callable, name: str) -> bytes:
    """What identifies a task's function in its hash: its name, as in Jug (editing a task's
    code does not recompute it), unless the name cannot tell functions apart -- a closure or
    a function defined inside another (``make.<locals>.work``): then also the function's
    content hash, so the tasks of ``make(10)`` and ``make(20)`` are different tasks; a
    method bound to an object (``Model(1).fit``): then also the object's hash, so
    ``Model(1).fit`` and ``Model(2).fit`` are different tasks."""
    if "<" in name:
        return f"{name}\0fn:{hash_one(f)}".encode()
    bound = getattr(f, "__self__", None)
    if bound is None or isinstance(bound, (type, types.ModuleType)):  # a function, a
        hit = _plain_keys.get(name)  # classmethod or a builtin: the name says which
        if hit is None or hit[0] is not f:
            hit = _plain_keys[name] = (f, name.encode())
        return hit[1]
    try:
        return f"{name}\0self:{hash_one(bound)}".encode()
    except UnhashableError as e:
        method, cls = name.rsplit(".", 1)[-1], type(bound).__qualname__
        raise ArgumentHashError(
            f"cannot hash the {cls} object that the task function {name} is bound to: "
            f"{e.reason}; write a module-level function that makes the object from plain "
            f"arguments and calls the method (def {method}(params, x): return "
            f"{cls}(params).{method}(x)), and make the task of that") from None


def _unhashable_message(task: Task, error: UnhashableError) -> str:
    """Which argument of ``task`` cannot be hashed, why, and what to pass instead."""
    which = "an argument"
    named = [(f"argument {i + 1}", a) for i, a in enumerate(task.args)]
    named += [(f"argument {k!r}", a) for k, a in task.kwargs.items()]
    for label, arg in named:
        try:
            hash_update(new_hasher(), arg)
        except UnhashableError as e:
            which = f"{label} ({type(arg).__qualname__})"
            error = e
            break
    advice = f" ({error.advice})" if error.advice else ""
    return f"cannot hash {which} of task {task.name}: {error.reason}{advice}"


def _hash_args(args: Any, kwargs: Any) -> str | None:
    """Hash of a task's argument values for the debug-mode check; None if they cannot be
    hashed (a result holding a cycle, say): then the check is skipped, the task still runs."""
    h = new_hasher()
    try:
        hash_update(h, (args, kwargs))
    except UnhashableError:
        return None
    return h.hexdigest()


def _ensure_dependency_hashes(task: TaskLike) -> None:
    """Compute dependency hashes bottom-up without recursion (deep chains must not overflow)."""
    order: list[Task] = []
    seen: set[int] = set()
    stack: list[tuple[TaskLike, bool]] = [(task, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            if isinstance(t, Task) and t._hash is None:
                order.append(t)
            continue
        if id(t) in seen or (isinstance(t, Task) and t._hash is not None):
            continue
        seen.add(id(t))
        stack.append((t, True))
        for d in t._deps():
            stack.append((d, False))
    for t in order:
        if t._hash is None:
            t._compute_hash()


class _Getitem:
    """The function of a subscript Tasklet: ``x[index]``, with a stable hash."""

    __slots__ = ("index",)

    def __init__(self, index: Any) -> None:
        self.index = index

    def __call__(self, obj: Any) -> Any:
        return obj[self.index]

    def __jug_hash__(self) -> bytes:
        h = new_hasher()
        hash_update(h, self.index if type(self.index) is not slice else
                    ("slice", self.index.start, self.index.stop, self.index.step))
        return b"getitem:" + h.hexdigest().encode()

    def __repr__(self) -> str:
        return f"[{self.index!r}]"


class DerivedTask(TaskLike):
    """Something computed from one ``base`` task and never stored (Tasklet, NoLoad).

    It depends on the base, can run and load exactly when the base's result exists, and
    unloading it unloads the base.
    """

    __slots__ = ()

    def _deps(self) -> Sequence[TaskLike]:
        return [self.base]

    def base_tasks(self) -> list[Task]:
        return self.base.base_tasks()

    def can_load(self) -> bool:
        """True if the base's result is available."""
        return self.base.can_load()

    def can_run(self) -> bool:
        """True if the base's result is available."""
        return self.base.can_load()

    @property
    def result(self) -> Any:
        return self.value()

    def unload(self) -> None:
        self.base.unload()


class Tasklet(DerivedTask):
    """A light-weight Task: ``f(base's value)``, computed on use, never stored."""

    __slots__ = ("base", "f", "_hash", "_result")

    def __init__(self, base: TaskLike, f: Callable) -> None:
        self.base = base
        self.f = f
        self._hash: str | None = None
        self._result: Any = _NOT_LOADED

    @property
    def name(self) -> str:
        return f"{self.base.name}{self.f!r}" if isinstance(self.f, _Getitem) else self.base.name

    def hash(self) -> str:
        """A hash derived from the base's hash and ``f``."""
        if self._hash is None:
            h = new_hasher()
            h.update(b"tasklet")
            hash_update(h, (self.base, self.f))
            self._hash = h.hexdigest()
        return self._hash

    def __jug_hash__(self) -> str:
        return "tasklet:" + self.hash()

    def is_loaded(self) -> bool:
        return self._result is not _NOT_LOADED

    def value(self) -> Any:
        """``f(base's value)``."""
        if self._result is _NOT_LOADED:
            self._result = self.f(self.base.value())
        return self._result

    def unload(self) -> None:
        self._result = _NOT_LOADED
        self.base.unload()

    def __repr__(self) -> str:
        return f"Tasklet({self.base!r}, {self.f!r})"


class iteratetask:
    """``a, b = iteratetask(task, 2)``: the Tasklets ``task[0] .. task[n-1]``."""

    def __init__(self, base: TaskLike, n: int) -> None:
        self.base = base
        self.n = n

    def __iter__(self) -> Iterator[Tasklet]:
        return (self.base[i] for i in range(self.n))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Tasklet:
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.base[i % self.n]


class TaskGenerator:
    """``@TaskGenerator``: calling the decorated function builds a Task instead of running it."""

    def __init__(self, f: Callable) -> None:
        _check_function(f)
        self.f = f
        self._name = _function_name(f)
        self.__name__ = getattr(f, "__name__", "task")
        self.__qualname__ = getattr(f, "__qualname__", self.__name__)
        self.__module__ = getattr(f, "__module__", "__main__")
        self.__doc__ = getattr(f, "__doc__", None)
        self.__wrapped__ = f

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        # Task(self.f, ...) without its argument repacking and name lookup: a jugfile may
        # build millions of tasks, and jug status builds them all again each time
        t = _new_object(Task)
        t._fill(self.f, self._name, args, kwargs)
        return t

    def __getstate__(self) -> dict:
        return {"f": self.f}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["f"])

    def __repr__(self) -> str:
        return f"TaskGenerator({self.__module__}.{self.__qualname__})"


def recursive_dependencies(t: TaskLike, max_level: int | None = -1) -> Iterator[TaskLike]:
    """Every dependency of ``t``, recursively (breadth first, each once), up to ``max_level``."""
    if max_level is None:
        max_level = -1
    seen: set[int] = set()
    frontier = [t]
    level = 0
    while frontier and (max_level < 0 or level < max_level):
        nxt = []
        for x in frontier:
            for d in x._deps():
                if id(d) not in seen:
                    seen.add(id(d))
                    yield d
                    nxt.append(d)
        frontier = nxt
        level += 1


def _reset_registry() -> None:
    """Forget every registered Task (before a jugfile is (re)loaded)."""
    alltasks.clear()


def registered_tasks() -> list[Task]:
    """The Tasks defined so far, in definition order: the live registry (it grows while a
    jugfile loads).  Other modules read it through here and change it only through
    :func:`unregister` and :func:`_reset_registry` (tests/test_architecture.py checks)."""
    return alltasks


def unregister(t: Task) -> None:
    """Take ``t`` out of the registry (a CompoundTask stands in for its outer task)."""
    if alltasks and alltasks[-1] is t:
        alltasks.pop()  # O(1): list.remove would make many compound tasks quadratic
    else:
        alltasks.remove(t)


# Pickled Task functions refer to the jugfile module by name; keep it importable.
def register_module(name: str, module: Any) -> None:
    """Make a loaded jugfile importable under ``name`` (so its classes unpickle)."""
    sys.modules[name] = module
