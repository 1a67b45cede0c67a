"""Which stored results are damaged: what status, check and execute verify, and when.

A result is checked where it is used: loading one (a task that needs it, ``jug.value``,
``jug shell``) always checks its CRC-32, so a damaged result is never used.  What is
checked beyond that must not cost every start one open per result (on NFS, a round trip
each), so:

* ``jug status`` and the web page read listings only: no result is opened;
* ``jug execute`` at start gives a random sample of up to :data:`SAMPLE` finished results of
  its jugfile the store's cheap check (header and length, and the CRC-32 of file-store
  results of at most 4 KiB), removes what fails and recomputes it: a crash that tore many
  results, or a failing disk, is found by the first workers that start, at a cost that does
  not grow with the store;
* ``jug check`` gives every finished result (up to :data:`VERIFY_LIMIT` of them) the cheap
  check and reports what fails as not finished;
* ``jug check --verify`` and ``jug status --verify`` check the CRC-32 of every result
  whatever its size: the full scan, for results nobody loads (``check`` also removes the
  corrupt ones so that ``jug execute`` recomputes them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

from ..backends import CorruptResult, Store
from ..task import Task

#: more finished tasks than this: jug check skips the cheap check (it stays fast)
VERIFY_LIMIT = 20000
#: finished results a worker checks at start, chosen at random: with a share p of results
#: damaged, one start misses all of them with probability (1 - p) ** SAMPLE (p = 10%: 12%,
#: p = 20%: 1%), and a dozen workers starting together almost never do
SAMPLE = 20


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



@dataclass(frozen=True)
class Sample:
    """What the check of a sample of finished results found."""

    checked: int  # results checked
    damaged: list[Damage]  # corrupt ones
    gone: list[str]  # listed as finished, gone when checked (removed meanwhile)


def check_sample(store: Store, tasks: Iterable[Task], finished: set[str], size: int = SAMPLE,
                 rng: random.Random | None = None) -> Sample:
    """The store's cheap check of a random sample of ``size`` finished results of ``tasks``
    (every one if there are no more; ``size`` < 0: every one)."""
    names = {h: t.name for t in tasks if (h := t.hash()) in finished}
    keys = list(names)
    if 0 <= size < len(keys):
        keys = (rng or random).sample(keys, size)
    bad = store.verify_many(keys) if keys else {}
    return Sample(len(keys), [Damage(k, names[k], e.where, e.reason) for k, e in bad.items()
                              if isinstance(e, CorruptResult)],
                  [k for k, e in bad.items() if not isinstance(e, CorruptResult)])
