"""Planning the next generation: one poll under the planner lock (:func:`plan_once`), run by a
worker handing over or by the planner job; what it submitted becomes a generation, and what it
found may end the chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from .. import sizing
from ..job import JobPlan, submitted_arrays
from ..pools import PoolsWatcher
from ..watch import Watcher, WatchOptions
from .lock import PlannerLock
from .planner import attach_planner, rearm
from .poll import ChainContext, ChainPoll, ChainPoolWatcher, ChainWatcher
from .records import (
    DONE,
    DRAINED,
    FAILED,
    RUNNING,
    STOPPED,
    Chain,
    Generation,
    Trigger,
    clock,
    short_id,
)

#: outcomes of one planning attempt
SUBMITTED = "submitted"
KEPT = "kept"
SKIPPED = "skipped"
ENDED = "ended"
BUSY = "busy"


@dataclass
class PlanResult:
    """What one planning attempt did, and a line saying so."""

    outcome: str
    message: str
    arrays: list[str] = field(default_factory=list)


def rebuild_plan(chain: Chain) -> JobPlan:
    """The :class:`JobPlan` the chain was started with (settings as recorded)."""
    return JobPlan.from_settings(chain.settings, chain.jugfile, chain.jugfile_args,
                                 workdir=chain.workdir)


def rebuild_plans(chain: Chain) -> dict[str, JobPlan]:
    """``{pool: JobPlan}`` of a chain with pools, from each pool's recorded settings."""
    plans = {}
    for name, settings in chain.pool_settings.items():
        plan = JobPlan.from_settings(settings, chain.jugfile, chain.jugfile_args,
                                     workdir=chain.workdir)
        plan.pool = name
        plans[name] = plan
    return plans


def _options(chain: Chain) -> WatchOptions:
    """The ``--watch`` knobs of one chain poll."""
    return WatchOptions(max_workers=chain.max_workers, max_queued=chain.max_queued, once=True,
                        stale_after=chain.stale_after)


def _watcher(store: Any, chain: Chain, ctx: ChainContext,
             echo: Callable[[str], None]) -> Watcher:
    """The watcher of one chain poll: the whole jugfile, or every pool with the chain's rules."""
    if not chain.pools:
        return ChainWatcher(rebuild_plan(chain), store, _options(chain), ctx, echo)
    from ...pools import parse_pools

    return PoolsWatcher(rebuild_plans(chain), parse_pools(chain.pools), store,
                        _options(chain), echo=echo, sub=partial(ChainPoolWatcher, ctx=ctx))


def _parts(watcher: Watcher) -> list[ChainPoll]:
    """The watchers carrying the chain's rules: the watcher itself, or one per pool."""
    subs = watcher.subs if isinstance(watcher, PoolsWatcher) else [watcher]
    return [w for w in subs if isinstance(w, ChainPoll)]


def plan_once(store: Any, jugfile: str, after: int | None, by: str, trigger: Trigger,
              wait: float = 0.0, echo: Callable[[str], None] = print,
              leaver: tuple[str, str] | None = None, since: float | None = None
              ) -> PlanResult:
    """Hand-over / planner job: one poll for the chain of ``jugfile`` under the planner lock.

    ``after`` is the generation the caller belongs to (None: not part of the chain);
    ``leaver`` the (array short id, index) of a worker handing over.  A spent budget means
    every running worker of its pool's arrays up to ``after`` is about to leave (no supply);
    the next generation of that pool is planned once, by whoever comes first.  A worker with
    no work left (``since``: when it left) skips when a poll started after that: it saw
    everything this worker did (so many workers leaving at once make one poll, not many).
    """
    chain = Chain.load(store, jugfile)
    if chain is None or after is None:
        return PlanResult(SKIPPED, "not part of a --until-done chain: nothing to plan")
    lock = PlannerLock(store, jugfile, wait, chain.stale_after)
    if not lock.acquire():
        return PlanResult(BUSY, "another process is planning the chain right now")
    try:
        chain = Chain.load(store, jugfile) or chain
        if chain.status != RUNNING:
            return PlanResult(SKIPPED, f"the chain is {chain.status}: {chain.reason}")
        pool = chain.pool_of(leaver[0]) if leaver else None
        nxt = (chain.successor_of(after, pool) if trigger is Trigger.BUDGET
               else chain.successor_of(after) if trigger is Trigger.PLANNER else None)
        if nxt is not None:
            return PlanResult(SKIPPED, f"generation {nxt.n} after generation {after} was "
                              f"planned by {nxt.by} at {clock(nxt.submitted)}")
        if since is not None and float(chain.last_poll.get("started") or 0) >= since:
            return PlanResult(SKIPPED, f"{chain.last_poll.get('by')} polled after this worker "
                              f"left, at {clock(chain.last_poll['started'])}")
        expiring = ({short_id(a) for g in chain.generations if g.n <= after
                     for a in g.arrays_of(pool)} if trigger is Trigger.BUDGET else set())
        ctx = ChainContext(chain, after, expiring,
                           leaver if trigger is Trigger.NO_WORK else None)
        return run_poll(store, ctx, by, trigger, echo)
    finally:
        lock.release()


def run_poll(store: Any, ctx: ChainContext, by: str, trigger: Trigger,
          echo: Callable[[str], None]) -> PlanResult:
    """The body of :func:`plan_once` (lock held, chain running, generation not yet planned)."""
    chain = ctx.chain
    watcher = _watcher(store, chain, ctx, echo)
    started = time.time()
    before = set(submitted_arrays(store, chain.jugfile))
    result = watcher.poll()
    new = [d for k, d in submitted_arrays(store, chain.jugfile).items() if k not in before]
    chain.last_poll = {"started": started, "at": time.time(), "by": by, "line": result.line}
    d = result.decision
    outcome = PlanResult(KEPT, f"{d.action}: {d.reason}")
    _judge(chain, watcher, result, trigger)
    if chain.status != RUNNING:
        outcome = PlanResult(ENDED, f"chain {chain.status}: {chain.reason}")
    if not new and trigger is Trigger.PLANNER and chain.status == RUNNING and result.arrays:
        rearm(watcher.plan, chain, ctx.after, [a.job_id for a in result.arrays])
    if new:
        alive = [a.job_id for a in result.arrays if a.job_id in set(chain.arrays())]
        gen = _generation(chain, new, _parts(watcher), by, ctx.after)
        chain.generations.append(gen)
        attach_planner(watcher.plan, chain, gen,
                        [*gen.arrays, *[a for a in alive if a not in gen.arrays]])
        outcome = PlanResult(SUBMITTED, f"generation {gen.n}: {gen.array_text()} "
                             f"({gen.workers} worker(s)); planner {gen.planner or 'none'}",
                             gen.arrays)
    chain.save(store)
    return outcome


def _generation(chain: Chain, docs: list[dict], parts: list[ChainPoll], by: str,
                after: int) -> Generation:
    """The generation of the arrays ``docs`` a poll just submitted (one per pool)."""
    finished = {p.chain_pool or "": p.tc.finished for p in parts if p.tc is not None}
    return Generation(len(chain.generations) + 1, [d["job_id"] for d in docs],
                      sum(int(d.get("size") or 0) for d in docs), time.time(), by, after,
                      sum(finished.values()),
                      pools={d["job_id"]: d["pool"] for d in docs if d.get("pool")},
                      pool_finished={p: n for p, n in finished.items() if p})


def _judge(chain: Chain, watcher: Watcher, result: Any, trigger: Trigger) -> None:
    """End the chain where the poll says so: done, failed, drained, out of bounds, stuck,
    or a submission the scheduler rejected with no worker of the chain left to retry."""
    d = result.decision
    parts = _parts(watcher)
    stop = next((p.stop_reason for p in parts if p.stop_reason), None)
    if stop:
        chain.end(STOPPED, stop)
    elif d.action in (sizing.DONE, sizing.FAILED, sizing.STUCK):
        chain.end(DONE if d.action == sizing.DONE else FAILED if d.action == sizing.FAILED
                  else STOPPED, d.reason)
    elif d.action in (sizing.DRAIN, sizing.DRAINED):
        chain.end(DRAINED, f"the stop file {watcher.plan.stop_file} exists: no new workers "
                  f"(remove it and run jug submit --until-done again to resume)")
    elif watcher.rejected and trigger is not Trigger.BUDGET and not any(
            a.job_id in set(chain.arrays()) for a in result.arrays):
        words = next((p.last_reject for p in parts if p.last_reject), "?")  # type: ignore[attr-defined]
        chain.end(STOPPED, f"the scheduler rejected the next generation and no worker of the "
                  f"chain is left to retry ({words.splitlines()[0]}); after a fix run jug "
                  f"submit --until-done again")
