"""The chain's rules over one ``--watch`` poll (:class:`ChainPoll`): no watch record, workers
about to leave are no supply, and new workers only within the bounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from .. import sizing
from ..job import JobPlan
from ..pool_watch import PoolsWatcher, PoolWatcher
from ..watch import Watcher, WatchOptions, owner_key
from .bounds import bound_reason
from .records import RUNNING, Chain, short_id


@dataclass
class ChainContext:
    """What every watcher of one chain poll shares (one per poll, one per pool)."""

    chain: Chain
    after: int  # the generation the poll follows (0: the first)
    #: short ids of arrays whose workers are leaving, with when the worker that handed over
    #: started (None: unknown); one that started well after it is not leaving
    expiring: dict[str, float | None]
    leaver: tuple[str, str] | None = None  # (array short id, index) of one leaving worker
    #: why this poll must submit nothing after all (the record changed under it), or ""
    superseded: str = ""


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
    staying: dict[str, int]  # workers of leaving arrays that started late, by array

    def _chain_init(self, ctx: ChainContext, pool: str | None) -> None:
        """Set up the chain's state (call after the watcher's own ``__init__``)."""
        self.ctx, self.chain_pool = ctx, pool
        self.tc, self.stop_reason, self.supplying, self.staying = None, None, set(), {}

    def _beat(self) -> None:
        """A chain poll is not a ``--watch`` loop: leave the watch record alone."""

    def _adjust(self, tc: sizing.TaskCounts, arrays: list[sizing.ArrayState],
                snap: Any) -> tuple[sizing.TaskCounts, list[sizing.ArrayState]]:
        """Running workers of leaving arrays, and the tasks they finish, are no supply/need;
        nor is the one worker leaving with no work (it is idle: it must not be stopped).
        A worker of a leaving array that started late keeps its budget: supply."""
        member = self.member()  # type: ignore[attr-defined]
        now, budget = time.time(), float(self.plan.budget)  # type: ignore[attr-defined]
        leaving, self.staying = 0, {}
        for h, o in snap.locks.items():
            k = owner_key(o)
            if h not in self.names:  # type: ignore[attr-defined]
                continue  # not a task of this jugfile (e.g. the planner lock itself)
            if (member is None or member(h)) and k and k[0] == self.sched.name \
                    and k[1] in self.ctx.expiring:
                if _started_late(o, self.ctx.expiring[k[1]], now, budget):
                    self.staying[k[1]] = self.staying.get(k[1], 0) + 1
                else:
                    leaving += 1
        tc = replace(tc, running=max(0, tc.running - leaving))
        arrays = [self._without_leavers(a) for a in arrays]
        self.tc = tc
        self.supplying = {short_id(a.job_id) for a in arrays if a.alive}
        return tc, arrays

    def _without_leavers(self, a: sizing.ArrayState) -> sizing.ArrayState:
        """``a`` without the workers that are leaving."""
        short, leaver = short_id(a.job_id), self.ctx.leaver
        if short in self.ctx.expiring:  # only workers that started late stay (and are busy)
            return replace(a, running=min(a.running, self.staying.get(short, 0)), idle=0)
        idle = self.idle.get(a.job_id, [])
        if leaver is None or leaver[0] != short or leaver[1] not in map(str, idle):
            return a
        idle[:] = [i for i in idle if str(i) != leaver[1]]  # never stopped as idle
        return replace(a, running=max(0, a.running - 1), idle=max(0, a.idle - 1))

    def _act(self, d: sizing.Decision, docs: dict[str, dict], counts: dict) -> str:
        """Refuse new workers beyond the bounds (the reason ends the chain), and any new
        worker once the record changed under this poll (read again just before)."""
        if d.new_workers and self.tc is not None:
            why = bound_reason(self.ctx.chain, self.ctx.after, self.tc.finished,
                               self.chain_pool, sorted(self.supplying))
            if why:
                self.stop_reason = why
                d.submit = []
        if d.new_workers and (self.ctx.superseded or self._superseded()):
            d.submit = []
        return super()._act(d, docs, counts)  # type: ignore[misc]

    def _superseded(self) -> bool:
        """True (and why, in the context) if the record now says not to submit: the chain
        ended (a cancel) or another planner added a generation since this poll read it."""
        read = self.ctx.chain
        now = Chain.load(self.store, read.jugfile)  # type: ignore[attr-defined]
        if now is not None and now.version == read.version:
            return False
        if now is None or now.status != RUNNING:
            status = now.status if now is not None else "removed"
            self.ctx.superseded = f"the chain was {status} while this poll ran"
        elif len(now.generations) > len(read.generations):
            self.ctx.superseded = (f"{now.generations[-1].by} planned generation "
                                   f"{now.generations[-1].n} while this poll ran")
        return bool(self.ctx.superseded)


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


def _started_late(owner: Any, leaver_started: float | None, now: float,
                  budget: float) -> bool:
    """True if the worker of lock owner record ``owner`` started at least half a budget after
    the worker that handed over (unknown: has at least half its budget left by its own
    start time): it keeps working, so it is supply, not a leaver."""
    try:
        started = float(owner["started"])
    except (KeyError, TypeError, ValueError):
        return False
    if leaver_started is not None:
        return started - leaver_started >= budget / 2
    return started + budget - now >= budget / 2
