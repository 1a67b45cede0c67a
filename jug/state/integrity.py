"""Which stored results are damaged: what status, check and execute verify, and when.

* ``jug execute`` at start, ``jug status`` and ``jug check`` (not the refreshing web page):
  every finished task's result
  (up to :data:`VERIFY_LIMIT` of them) gets the store's cheap check: header and length, and
  the CRC-32 of file-store results of at most 4 KiB (they are read whole anyway).  execute
  removes what fails and recomputes it; status and check report it as not finished.
* ``jug check --verify``: the CRC-32 of every result, whatever its size.
* Loading a result (a task that needs it, ``jug.value``) always checks its CRC-32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..backends import CorruptResult, Store
from ..task import Task

#: more finished tasks than this: status and check skip the cheap check (start-up stays fast)
VERIFY_LIMIT = 20000


@dataclass(frozen=True)
class Damage:
    """A stored result that failed its check."""

    key: str
    task: str
    where: str
    reason: str

    def line(self) -> str:
        return f"{self.task} ({self.key[:12]}): {self.reason} at {self.where}"


def find_damaged(store: Store, tasks: Iterable[Task], finished: set[str], full: bool = False,
                 limit: int = VERIFY_LIMIT) -> list[Damage]:
    """The finished results of ``tasks`` that fail the store's check (cheap, or ``full``)."""
    names: dict[str, str] = {}
    cap = limit if not full and limit >= 0 else None
    for t in tasks:
        h = t.hash()
        if h in finished:
            names[h] = t.name
            if cap is not None and len(names) > cap:
                return []  # too many to check at start-up: jug check --verify does them all
    bad = store.verify_many(list(names), full=full)
    return [Damage(k, names[k], e.where, e.reason) for k, e in bad.items()
            if isinstance(e, CorruptResult)]
