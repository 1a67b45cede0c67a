"""The chain's rules over one ``--watch`` poll (:class:`ChainPoll`): no watch record, workers
about to leave are no supply, and new workers only within the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from .. import sizing
from ..job import JobPlan
from ..pools import PoolsWatcher, PoolWatcher
from ..watch import Watcher, WatchOptions, owner_key
from .bounds import bound_reason
from .records import Chain, short_id


@dataclass
class ChainContext:
    """What every watcher of one chain poll shares (one per poll, one per pool)."""

    chain: Chain
    after: int  # the generation the poll follows (0: the first)
    expiring: set[str]  # short ids of arrays whose running workers are all leaving
    leaver: tuple[str, str] | None = None  # (array short id, index) of one leaving worker


class ChainPoll:
    """The chain's rules over one :class:`Watcher` poll, whole jugfile or one pool (a mixin
    placed before the watcher class): no watch record, workers about to leave are no
    supply, and new workers only within the bounds (the reason ends the chain)."""

    ctx: ChainContext
    chain_pool: str | None
    tc: sizing.TaskCounts | None
    stop_reason: str | None
    supplying: set[str]
    sched: Any  # what the watcher class provides
    idle: dict[str, list[int]]

    def _chain_init(self, ctx: ChainContext, pool: str | None) -> None:
        """Set up the chain's state (call after the watcher's own ``__init__``)."""
        self.ctx, self.chain_pool = ctx, pool
        self.tc, self.stop_reason, self.supplying = None, None, set()

    def _beat(self) -> None:
        """A chain poll is not a ``--watch`` loop: leave the watch record alone."""

    def _adjust(self, tc: sizing.TaskCounts, arrays: list[sizing.ArrayState],
                snap: Any) -> tuple[sizing.TaskCounts, list[sizing.ArrayState]]:
        """Running workers of leaving arrays, and the tasks they finish, are no supply/need;
        nor is the one worker leaving with no work (it is idle: it must not be stopped)."""
        member = self.member()  # type: ignore[attr-defined]
        leaving = sum(1 for h, o in snap.locks.items() if (member is None or member(h))
                      and (k := owner_key(o)) and k[0] == self.sched.name
                      and k[1] in self.ctx.expiring)
        tc = replace(tc, running=max(0, tc.running - leaving))
        arrays = [self._without_leavers(a) for a in arrays]
        self.tc = tc
        self.supplying = {short_id(a.job_id) for a in arrays if a.alive}
        return tc, arrays

    def _without_leavers(self, a: sizing.ArrayState) -> sizing.ArrayState:
        """``a`` without the workers that are leaving."""
        short, leaver = short_id(a.job_id), self.ctx.leaver
        if short in self.ctx.expiring:
            return replace(a, running=0, idle=0)
        idle = self.idle.get(a.job_id, [])
        if leaver is None or leaver[0] != short or leaver[1] not in map(str, idle):
            return a
        idle[:] = [i for i in idle if str(i) != leaver[1]]  # never stopped as idle
        return replace(a, running=max(0, a.running - 1), idle=max(0, a.idle - 1))

    def _act(self, d: sizing.Decision, docs: dict[str, dict], counts: dict) -> str:
        """Refuse new workers beyond the bounds (the reason ends the chain)."""
        if d.new_workers and self.tc is not None:
            why = bound_reason(self.ctx.chain, self.ctx.after, self.tc.finished,
                               self.chain_pool, sorted(self.supplying))
            if why:
                self.stop_reason = why
                d.submit = []
        return super()._act(d, docs, counts)  # type: ignore[misc]


class ChainWatcher(ChainPoll, Watcher):
    """One ``--watch`` poll for a chain without pools."""

    def __init__(self, plan: JobPlan, store: Any, opts: WatchOptions, ctx: ChainContext,
                 echo: Callable[[str], None]) -> None:
        Watcher.__init__(self, plan, store, opts, echo=echo)
        self._chain_init(ctx, None)


class ChainPoolWatcher(ChainPoll, PoolWatcher):
    """One pool's share of a chain poll (the sub-watcher :class:`PoolsWatcher` makes)."""

    def __init__(self, plan: JobPlan, store: Any, opts: WatchOptions, parent: PoolsWatcher,
                 ctx: ChainContext) -> None:
        PoolWatcher.__init__(self, plan, store, opts, parent)
        self._chain_init(ctx, self.pool)
