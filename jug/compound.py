"""Compound tasks: a function that builds a sub-graph of Tasks, stored as one result.

Once the compound result is stored, loading the jugfile returns a Task that loads it and
never calls the function again, so the inner graph is not rebuilt.
"""

from __future__ import annotations

from typing import Any, Callable

from .task import Task, TaskGenerator, _check_function, unregister


def compound_task_execute(x: Any, h: str) -> Any:
    """Internal: the task that stores the inner graph's value under the compound hash ``h``."""
    return x


def CompoundTask(f: Callable, *args: Any, **kwargs: Any) -> Task:
    """``f(*args, **kwargs)`` must return Tasks; stored as one task under ``Task(f, ...)``'s hash."""
    _check_function(f)
    outer = Task(f, *args, **kwargs)
    h = outer.hash()
    store = Task.store
    if store is not None and store.can_load(h):
        return outer  # registered, finished: loads the stored value, f never runs
    unregister(outer)  # the compound task below stands in for it
    inner = f(*args, **kwargs)
    ct = Task(compound_task_execute, inner, h)
    ct._hash = h
    ct.name = outer.name
    return ct


class CompoundTaskGenerator:
    """``@CompoundTaskGenerator``: calling ``f(a, b)`` gives ``CompoundTask(f, a, b)``."""

    def __init__(self, f: Callable) -> None:
        _check_function(f)
        self.f = f
        self.__name__ = f.__name__
        self.__qualname__ = getattr(f, "__qualname__", f.__name__)
        self.__module__ = f.__module__
        self.__doc__ = f.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        return CompoundTask(self.f, *args, **kwargs)


__all__ = ["CompoundTask", "CompoundTaskGenerator", "compound_task_execute", "TaskGenerator"]
