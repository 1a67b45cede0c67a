"""``CachedFunction``: compute a value while the jugfile loads, once, and keep it in the store."""

from __future__ import annotations

from typing import Any, Callable

from .task import Task, TaskError, value


def CachedFunction(f: Callable, *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)``, computed now if not already stored, and stored for next time."""
    t = Task(f, *args, **kwargs)
    if not t.can_load():
        if not t.can_run():
            raise TaskError(
                f"CachedFunction({t.name}): its arguments depend on tasks that have not run; "
                "use bvalue() or put a barrier() before it")
        t.run()
    return value(t)
