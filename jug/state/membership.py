"""Which pool a task belongs to, and which tasks a worker selects (pure: names only).

A task belongs to the first pool one of whose ``tasks`` entries matches its name (the rule of
``--target``: exact name, else ``.NAME`` suffix, else prefix), else to :data:`DEFAULT`.  The
pools themselves are declared in ``jug submit`` profiles (:mod:`jug.hpc.pool_settings`); this
part sits low because the worker (``--only``/``--exclude``), ``jug status --by-pool`` and the
accounting report all need it without reading a profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .taskstate import match_names

DEFAULT = "default"


@dataclass(frozen=True)
class Pool:
    """One pool: its name, the task names/prefixes it takes, and its submit settings."""

    name: str
    tasks: tuple[str, ...] = ()
    max_workers: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


def assign(names: Iterable[str], pools: Sequence[Pool]) -> dict[str, str]:
    """``{task name: pool name}``: the first pool whose patterns match, else ``default``."""
    names = list(dict.fromkeys(names))
    out: dict[str, str] = {}
    for pool in pools:
        for pattern in pool.tasks:
            for n in match_names(names, pattern):
                out.setdefault(n, pool.name)
    return {n: out.get(n, DEFAULT) for n in names}


def selection(names: Iterable[str], only: Sequence[str], exclude: Sequence[str]) -> set[str]:
    """Names matched by some ``only`` pattern (all when none) and by no ``exclude`` pattern:
    what ``jug execute --only/--exclude`` runs."""
    names = list(dict.fromkeys(names))
    chosen = ({n for p in only for n in match_names(names, p)} if only else set(names))
    return chosen - {n for p in exclude for n in match_names(names, p)}
