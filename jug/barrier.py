"""``barrier()`` and ``bvalue(t)``: stop loading the jugfile until earlier results exist.

Loading stops by raising :class:`BarrierError`; the loader catches it and remembers that the
task list is incomplete.  ``jug execute`` runs what it can and loads the jugfile again.
"""

from __future__ import annotations

from typing import Any

from .hash import hash_session
from .task import Task, TaskLike, _find_dependencies, registered_tasks, value


class BarrierError(Exception):
    """Raised inside a jugfile at a barrier whose tasks are not all finished."""


def _all_finished(tasks: list[Task]) -> bool:
    if not tasks:
        return True
    store = Task.store
    if store is None:
        raise BarrierError("no store is set")
    pending = [t for t in tasks if not t.is_loaded()]
    if not pending:
        return True
    finished = set(store.list()) if len(pending) > 8 else None
    with hash_session():  # no user code runs until it closes: shared arguments scanned once
        for t in pending:
            h = t.hash()
            if not (h in finished if finished is not None else store.can_load(h)):
                return False
    return True


def barrier() -> None:
    """Stop loading the jugfile here unless every task defined so far has its result."""
    if not _all_finished(list(registered_tasks())):
        raise BarrierError("barrier: earlier tasks have not all finished")


def bvalue(t: Any) -> Any:
    """``barrier()`` + ``value(t)``, checking only ``t`` (and what it contains)."""
    needed: list[Task] = []
    for x in ([t] if isinstance(t, TaskLike) else _find_dependencies((t,), {})):
        needed.extend(x.base_tasks())
    if not _all_finished(needed):
        raise BarrierError("bvalue: its task has not finished")
    return value(t)
