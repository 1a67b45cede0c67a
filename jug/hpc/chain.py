"""``jug submit --until-done``: worker arrays that carry the work across walltimes by themselves.

``--watch`` needs a process on the login node for as long as the work lasts; many sites kill
such processes and laptops close.  A chain needs none: every worker already reads the task
states from the store and may ask the queue one question, so

* a worker that leaves because its time budget is spent (not because the work is done, not
  because of the stop file) *hands over*: it runs ONE poll of the ``--watch`` sizing logic
  (:class:`ChainWatcher`), which submits what the remaining work needs as the next
  *generation*;
* each generation comes with a small *planner job* held until every live array of the chain
  has ended (``afterany`` / ``-hold_jid``): the safety net when all workers died at once.  It
  runs the same poll and does nothing when the work is done, failed or drained.

Exactly one process plans at a time (a store lock with an owner record, reclaimed when its
owner is provably dead), and the chain record in the store (namespace ``chain``) lists every
generation with its arrays, time and planner: a generation is planned once, by whoever comes
first.  Bounds: ``--max-workers`` / ``--max-queued`` as for ``--watch``, a generation limit
(default from the recorded run times, never above :data:`HARD_GENERATIONS`), failed tasks are
never resubmitted for, and a generation that finished no task stops the chain with a reason
that ``jug status`` and ``jug submit --status`` show.

With worker pools (:mod:`jug.hpc.pools`) every poll sizes every pool, each with the chain's
rules (:class:`ChainPoll`): generation 1 is one pools poll, a generation lists the arrays
of all pools, and a pool's worker that leaves with nothing left it could run hands over too
(its tasks wait on another pool, or its pool is done while another pool's tasks became
ready), so the next pool's workers start when the work reaches it, not when the planner job
runs.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from functools import partial
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..schedulers.base import SchedulerError
from . import sizing
from .job import (
    JobPlan,
    SubmitError,
    _sanitize_name,
    state_name,
    submitted_arrays,
)
from .pools import PoolsWatcher, PoolWatcher
from .settings import default
from .watch import Watcher, WatchOptions, owner_key

CHAIN_NAMESPACE = "chain"
#: generation limit when no run times are recorded yet
DEFAULT_GENERATIONS = 20
#: no chain runs more generations than this, whatever the options say
HARD_GENERATIONS = 100
#: the planner job's walltime unless ``planner-walltime`` says otherwise (seconds)
PLANNER_WALLTIME = 600
#: how long a planner job waits for the planner lock held by a live process (seconds)
LOCK_WAIT = 120.0
#: how long a pool's worker with no work left waits for the planner lock (seconds): long
#: enough for one poll of another worker, short enough not to hold its allocation idle
NO_WORK_WAIT = 10.0

RUNNING = "running"
DONE = "done"
FAILED = "failed"
DRAINED = "drained"
STOPPED = "stopped"
CANCELLED = "cancelled"

#: outcomes of one planning attempt
SUBMITTED = "submitted"
KEPT = "kept"
SKIPPED = "skipped"
ENDED = "ended"
BUSY = "busy"


@dataclass
class Generation:
    """One set of arrays of the chain: who planned it, when, and the planner job after it."""

    n: int
    arrays: list[str]
    workers: int
    submitted: float
    by: str
    after: int  # the generation it follows (0: the first)
    finished_before: int  # finished tasks when it was submitted (progress check)
    planner: str | None = None
    planner_error: str = ""
    #: planner jobs re-armed after a planner found other workers still at the work
    rearmed: list[str] = field(default_factory=list)
    #: the pool of each array (chains with pools only)
    pools: dict[str, str] = field(default_factory=dict)
    #: finished tasks of each pool when it was submitted (the per-pool progress check)
    pool_finished: dict[str, int] = field(default_factory=dict)

    def arrays_of(self, pool: str | None) -> list[str]:
        """This generation's arrays of ``pool`` (None: all of them)."""
        return [a for a in self.arrays if pool is None or self.pools.get(a) == pool]

    def array_text(self) -> str:
        """``12, 13`` or, with pools, ``12 (default), 13 (gpu)``."""
        return ", ".join(f"{a} ({self.pools[a]})" if a in self.pools else a
                         for a in self.arrays)


@dataclass
class Chain:
    """The chain record of one jugfile and store (everything a worker needs to plan)."""

    jugfile: str
    jugdir: str
    workdir: str
    scheduler: str
    settings: dict[str, Any]
    jugfile_args: list[str]
    max_workers: int
    max_queued: int | None
    max_generations: int
    stale_after: float
    started: float
    status: str = RUNNING
    reason: str = ""
    generations: list[Generation] = field(default_factory=list)
    last_poll: dict[str, Any] = field(default_factory=dict)
    #: the pools declaration (:func:`jug.pools.declaration`; empty: no pools)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: each pool's settings with every derived value fixed (:func:`recorded_settings`)
    pool_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def doc_name(jugfile: str) -> str:
        """The document name of the chain of ``jugfile`` in the ``chain`` namespace."""
        return state_name("chain", os.path.abspath(jugfile))

    @classmethod
    def load(cls, store: Any, jugfile: str) -> Chain | None:
        """The chain recorded for ``jugfile``, or None."""
        doc = store.read_docs(CHAIN_NAMESPACE).get(cls.doc_name(jugfile))
        if not doc:
            return None
        gens = [Generation(**_known(Generation, g)) for g in doc.pop("generations", [])]
        return cls(**_known(cls, doc), generations=gens)

    def save(self, store: Any) -> None:
        """Write the record (callers hold the planner lock)."""
        store.write_doc(CHAIN_NAMESPACE, self.doc_name(self.jugfile), asdict(self))

    def generation_of(self, array_short_id: str) -> int | None:
        """The generation whose arrays include ``array_short_id`` (None: not this chain's)."""
        for g in self.generations:
            if any(_short(a) == array_short_id for a in g.arrays):
                return g.n
        return None

    def successor_of(self, n: int, pool: str | None = None) -> Generation | None:
        """The generation planned after generation ``n`` (with an array of ``pool``)."""
        return next((g for g in self.generations if g.after == n and g.arrays_of(pool)),
                    None)

    def pool_of(self, array_short_id: str) -> str | None:
        """The pool of one of the chain's arrays (None: no pools, or not this chain's)."""
        return next((g.pools.get(a) for g in self.generations for a in g.arrays
                     if _short(a) == array_short_id), None)

    def arrays(self) -> list[str]:
        """Every array the chain submitted."""
        return [a for g in self.generations for a in g.arrays]

    def helpers(self) -> list[str]:
        """Every planner job the chain submitted."""
        return [j for g in self.generations for j in ([g.planner] if g.planner else [])
                + g.rearmed]

    def end(self, status: str, reason: str) -> None:
        """Mark the chain as over (nothing is submitted for it any more)."""
        self.status = status
        self.reason = reason


def _known(cls: type, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``doc`` that ``cls`` has fields for (records of other jug versions load)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def _short(job_id: str) -> str:
    """The leading number of a job id (every adapter's short id)."""
    m = re.match(r"\d+", str(job_id))
    return m.group(0) if m else str(job_id)


# -- the planner lock ----------------------------------------------------------------------
def lock_key(jugfile: str) -> str:
    """The store lock that one planner at a time holds for ``jugfile``."""
    return "jug-chain-" + hashlib.sha1(os.path.abspath(jugfile).encode()).hexdigest()[:24]


class PlannerLock:
    """``with PlannerLock(store, jugfile, wait) as got:`` -- ``got`` False if it stayed busy.

    A lock whose owner is provably dead (process gone on this host, batch job gone, stale
    heartbeat) is reclaimed, like a task lock.
    """

    def __init__(self, store: Any, jugfile: str, wait: float = 0.0,
                 stale_after: float = 300.0) -> None:
        self.store = store
        self.key = lock_key(jugfile)
        self.wait = wait
        self.stale_after = stale_after
        self.held = False

    def acquire(self) -> bool:
        """Take the lock, reclaiming a dead owner's; waits up to ``wait`` seconds."""
        from ..locks import owner_is_dead

        end = time.time() + self.wait
        while True:
            if self.store.lock(self.key):
                self.held = True
                return True
            owner = self.store.lock_owner(self.key)
            if owner and owner_is_dead(owner, time.time(), self.stale_after, None):
                self.store.reclaim(self.key, owner)
                continue
            if time.time() >= end:
                return False
            time.sleep(0.5)

    def release(self) -> None:
        """Give the lock back (if held)."""
        if self.held:
            self.store.unlock(self.key)
            self.held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


# -- bounds --------------------------------------------------------------------------------
def default_generations(remaining: Mapping[str, int], typical: Callable[[str], float | None],
                        workers: int, budget: float) -> int:
    """Generations the recorded run times need, twice over plus two (the default limit).

    Without a recorded run time for every remaining task name: :data:`DEFAULT_GENERATIONS`.
    """
    total = 0.0
    for name, count in remaining.items():
        secs = typical(name)
        if count and secs is None:
            return DEFAULT_GENERATIONS
        total += count * (secs or 0.0)
    needed = math.ceil(total / max(1.0, workers * budget))
    return max(3, min(HARD_GENERATIONS, 2 * needed + 2))


def bound_reason(chain: Chain, after: int, finished_now: int, pool: str | None = None,
                 supplying: Sequence[str] = ()) -> str | None:
    """Why new workers (of ``pool``) after generation ``after`` must not be submitted, or
    None (they may).  ``finished_now`` counts the pool's tasks; the progress check judges
    the pool's arrays of generation ``after`` only once none of them (short ids in
    ``supplying``) still has workers to give."""
    if len(chain.generations) >= chain.max_generations:
        return (f"generation limit reached: {len(chain.generations)} generation(s) ran "
                f"(--max-generations {chain.max_generations})")
    prev = next((g for g in chain.generations if g.n == after), None)
    mine = prev.arrays_of(pool) if prev else []
    if not mine or any(_short(a) in supplying for a in mine):
        return None
    before = prev.pool_finished.get(pool, 0) if pool else prev.finished_before
    if finished_now <= before:
        log_dir = chain.settings.get("log_dir") or default("log_dir")
        of_pool = f" of pool {pool}" if pool else ""
        return (f"generation {prev.n} (array(s) {', '.join(mine)}) finished no task{of_pool}: "
                f"see the worker logs in {log_dir} and 'jug status'; after a fix run jug "
                f"submit --until-done again")
    return None


# -- one poll --------------------------------------------------------------------------------
class Trigger(str, Enum):
    """Who runs a chain poll, which says what its poll may skip, discount and re-arm."""

    START = "start"  # jug submit: generation 1 of a chain with pools
    BUDGET = "budget spent"  # a worker whose budget is spent (its array's workers all leave)
    NO_WORK = "no work left"  # a pool's worker with nothing left it could run
    PLANNER = "planner job"  # the planner job: every array it waited on has ended


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
        self.supplying = {_short(a.job_id) for a in arrays if a.alive}
        return tc, arrays

    def _without_leavers(self, a: sizing.ArrayState) -> sizing.ArrayState:
        """``a`` without the workers that are leaving."""
        short, leaver = _short(a.job_id), self.ctx.leaver
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
    from ..pools import parse_pools

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
                              f"planned by {nxt.by} at {_clock(nxt.submitted)}")
        if since is not None and float(chain.last_poll.get("started") or 0) >= since:
            return PlanResult(SKIPPED, f"{chain.last_poll.get('by')} polled after this worker "
                              f"left, at {_clock(chain.last_poll['started'])}")
        expiring = ({_short(a) for g in chain.generations if g.n <= after
                     for a in g.arrays_of(pool)} if trigger is Trigger.BUDGET else set())
        ctx = ChainContext(chain, after, expiring,
                           leaver if trigger is Trigger.NO_WORK else None)
        return _poll(store, ctx, by, trigger, echo)
    finally:
        lock.release()


def _poll(store: Any, ctx: ChainContext, by: str, trigger: Trigger,
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
        _rearm(watcher.plan, chain, ctx.after, [a.job_id for a in result.arrays])
    if new:
        alive = [a.job_id for a in result.arrays if a.job_id in set(chain.arrays())]
        gen = _generation(chain, new, _parts(watcher), by, ctx.after)
        chain.generations.append(gen)
        _attach_planner(watcher.plan, chain, gen,
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


def _clock(t: float) -> str:
    """``HH:MM:SS`` of a time stamp."""
    return time.strftime("%H:%M:%S", time.localtime(t))


# -- the planner job ---------------------------------------------------------------------
def planner_command(plan: JobPlan, generation: int) -> list[str]:
    """The command a planner job runs: one poll after generation ``generation``."""
    return [plan.python, "-m", "jug.hpc.chain", "--jugdir", plan.jugdir,
            "--generation", str(generation), plan.jugfile]


def render_planner(plan: JobPlan, generation: int, after_ids: list[str]) -> str:
    """The planner job script of ``generation``, held until ``after_ids`` have ended."""
    sched = plan.scheduler
    limit = sched.max_job_name
    name = _sanitize_name(f"{plan.job_name[: 10 if limit else None]}-plan", limit)
    walltime = plan.settings.get("planner_walltime")
    if walltime in (None, ""):
        secs = min(PLANNER_WALLTIME, plan.walltime)
    else:
        from .job import parse_duration

        secs = parse_duration(walltime, "planner-walltime", bare_seconds=False)
    extra = {"job_name": name, "planner_walltime": secs, "generation": generation,
             "dependency": sched.dependency(after_ids),
             "planner_command": shlex.join(planner_command(plan, generation))}
    return plan.render(1, template=sched.planner_template, extra=extra)


def _attach_planner(plan: JobPlan, chain: Chain, gen: Generation, after_ids: list[str]) -> None:
    """Submit the planner job of ``gen``; a failure is recorded (workers still hand over)."""
    try:
        text = render_planner(plan, gen.n, after_ids)
        os.makedirs(plan.log_dir, exist_ok=True)
        script = os.path.join(plan.log_dir, f"{plan.job_name}_plan{gen.n}_"
                              f"{time.strftime('%Y%m%d-%H%M%S')}.sh")
        with open(script, "w") as f:
            f.write(text)
        gen.planner = plan.scheduler.submit(script, cwd=plan.workdir)
    except (SchedulerError, SubmitError, OSError) as e:
        if len(after_ids) > len(gen.arrays):  # an older array may have left the scheduler
            return _attach_planner(plan, chain, gen, list(gen.arrays))
        gen.planner_error = str(e).splitlines()[0]


def _rearm(plan: JobPlan, chain: Chain, after: int, alive: list[str]) -> None:
    """A planner job found enough workers of other arrays (e.g. a plain ``jug submit``) at
    the work: plan again once they have ended, or nobody would."""
    gen = next(g for g in chain.generations if g.n == after)
    probe = Generation(after, alive, 0, time.time(), "", after, 0)
    _attach_planner(plan, chain, probe, alive)
    if probe.planner:
        gen.rearmed.append(probe.planner)


# -- start, cancel, status ---------------------------------------------------------------
def check_can_chain(plan: JobPlan) -> None:
    """Refuse ``--until-done`` where compute nodes may not submit jobs (clear error)."""
    if plan.scheduler.compute_nodes_may_submit() is False:
        raise SubmitError(
            f"--until-done needs compute nodes that may submit jobs (workers and the planner "
            f"job submit the next workers), and this {plan.scheduler.name} cluster does not "
            f"allow it: use 'jug submit --watch' on a login node instead (or set "
            f"'compute-submit: yes' in your profile if your site does allow it)")


def recorded_settings(plan: JobPlan) -> dict[str, Any]:
    """The plan's settings with every derived value fixed, so workers rebuild the same plan."""
    s = dict(plan.settings)
    s.update(scheduler=plan.scheduler.name, workers=plan.workers, jugdir=plan.jugdir,
             stop_file=plan.stop_file, log_dir=plan.log_dir, job_name=plan.job_name,
             python=plan.python, pythonpath=plan.pythonpath or "none", margin=plan.margin,
             check=False)
    return s


def _new_chain(plan: JobPlan, store: Any, opts: WatchOptions, max_generations: int | None,
               summary: Mapping[str, Any], stages: int = 1) -> Chain:
    """The record of a new chain (not saved yet), after the checks that refuse one.

    ``stages``: pools the work passes through; each may take a generation of its own."""
    from ..timings import Durations

    check_can_chain(plan)
    if max_generations is not None and not 1 <= max_generations <= HARD_GENERATIONS:
        raise SubmitError(f"--max-generations must be between 1 and {HARD_GENERATIONS}")
    old = Chain.load(store, plan.jugfile)
    if old is not None and old.status == RUNNING and _alive(plan, old):
        raise SubmitError(f"a --until-done chain already runs for {plan.jugfile} (generation "
                          f"{len(old.generations)}): see 'jug submit --status', stop it with "
                          f"'jug submit --cancel' or drain it with touch {plan.stop_file}")
    remaining = {n: c.get("waiting", 0) + c.get("ready", 0) + c.get("running", 0)
                 for n, c in (summary.get("tasks") or {}).items()}
    limit = max_generations or min(HARD_GENERATIONS, stages - 1 + default_generations(
        remaining, Durations.from_store(store).typical, opts.max_workers, plan.budget))
    return Chain(plan.jugfile, plan.jugdir, plan.workdir, plan.scheduler.name,
                 recorded_settings(plan), list(plan.jugfile_args), opts.max_workers,
                 opts.max_queued, limit, opts.stale_after, time.time())


def _say_planner(gen: Generation, echo: Callable[[str], None]) -> None:
    """Say whether generation 1's planner job (the safety net) was submitted."""
    if gen.planner:
        echo(f"submitted planner job {gen.planner} (runs when generation 1 has ended)")
    else:
        echo(f"warning: the planner job was not submitted ({gen.planner_error}); workers "
             f"still hand over when their budget is spent")


def start(plan: JobPlan, store: Any, opts: WatchOptions, max_generations: int | None,
          summary: Mapping[str, Any], echo: Callable[[str], None] = print) -> Chain:
    """Submit generation 1 and its planner job; record the chain.  Returns at once."""
    chain = _new_chain(plan, store, opts, max_generations, summary)
    with PlannerLock(store, plan.jugfile, LOCK_WAIT, opts.stale_after) as got:
        if not got:
            raise SubmitError("another process holds the chain's planner lock: try again")
        chain.save(store)  # before submitting: a worker that leaves early finds the record
        try:
            records = plan.submit(store, min(plan.workers, opts.max_workers), echo=echo)
        except SchedulerError as e:
            chain.end(STOPPED, f"the first submission failed: {str(e).splitlines()[0]}")
            chain.save(store)
            raise
        ids = [r["job_id"] for r in records]
        finished = int((summary.get("total") or {}).get("finished", 0))
        gen = Generation(1, ids, sum(r["size"] for r in records), time.time(), "jug submit",
                         0, finished)
        chain.generations.append(gen)
        _attach_planner(plan, chain, gen, ids)
        chain.save(store)
    _say_planner(gen, echo)
    return chain


def start_pools(plans: Mapping[str, JobPlan], pools: Sequence[Any], store: Any,
                opts: WatchOptions, max_generations: int | None, summary: Mapping[str, Any],
                echo: Callable[[str], None] = print) -> Chain:
    """``--until-done`` with pools: generation 1 is one pools poll (a pool whose tasks all
    wait on other pools gets no array yet), with one planner job held on all its arrays."""
    from ..pools import DEFAULT, declaration

    main = plans[DEFAULT]
    chain = _new_chain(main, store, opts, max_generations, summary, stages=len(pools))
    chain.pools = declaration(pools)
    chain.pool_settings = {name: recorded_settings(p) for name, p in plans.items()}
    with PlannerLock(store, main.jugfile, LOCK_WAIT, opts.stale_after) as got:
        if not got:
            raise SubmitError("another process holds the chain's planner lock: try again")
        chain.save(store)  # before submitting: a worker that leaves early finds the record
        try:
            result = _poll(store, ChainContext(chain, 0, set()), "jug submit", Trigger.START,
                           echo)
        except SchedulerError as e:
            chain.end(STOPPED, f"the first poll failed: {str(e).splitlines()[0]}")
            chain.save(store)
            raise
    if not chain.generations:
        if chain.status == RUNNING:
            chain.end(STOPPED, f"the first poll submitted no worker ({result.message})")
            chain.save(store)
        raise SubmitError(f"nothing was submitted: {chain.reason}")
    _say_planner(chain.generations[0], echo)
    return chain


def _alive(plan: JobPlan, chain: Chain) -> bool:
    """True if an array or planner job of ``chain`` is still in the queue."""
    ids = chain.arrays() + chain.helpers()
    try:
        return any(c.alive for c in plan.scheduler.query(ids).values())
    except SchedulerError:
        return True


def cancel(store: Any, jugfile: str, settings: Mapping[str, Any] | None,
           echo: Callable[[str], None] = print) -> int:
    """End the chain: mark it cancelled (under the lock, so no planner submits after) and
    cancel its planner jobs still queued; the caller cancels the arrays.  Returns how many."""
    from ..schedulers import get_scheduler

    chain = Chain.load(store, jugfile)
    if chain is None:
        return 0
    with PlannerLock(store, jugfile, LOCK_WAIT, chain.stale_after):
        chain = Chain.load(store, jugfile) or chain
        if chain.status == RUNNING:
            chain.end(CANCELLED, "jug submit --cancel")
        chain.save(store)
    helpers = chain.helpers()
    if not helpers:
        return 0
    sched = get_scheduler(chain.scheduler, settings)
    counts = sched.query(helpers)
    alive = [j for j in helpers if counts[j].alive]
    if alive:
        sched.cancel(alive)
        echo(f"cancelled {len(alive)} planner job(s) of the chain: {', '.join(alive)}")
    return len(alive)


def describe(chain: Chain) -> list[str]:
    """Lines for ``jug submit --status`` and ``jug status``."""
    workers = sum(g.workers for g in chain.generations)
    pools = f", pools {', '.join(chain.pools)}" if chain.pools else ""
    head = (f"chain (--until-done{pools}): {chain.status}, generation {len(chain.generations)} "
            f"of at most {chain.max_generations}, {workers} worker(s) submitted since "
            f"{_clock(chain.started)}")
    lines = [head]
    if chain.reason:
        lines.append(f"  {chain.status}: {chain.reason}")
    for g in chain.generations:
        planner = (f"planner job {g.planner}" if g.planner
                   else f"no planner job ({g.planner_error})" if g.planner_error else "")
        if g.rearmed:
            planner += f", re-armed as {', '.join(g.rearmed)}"
        lines.append(f"  generation {g.n}: array(s) {g.array_text()} ({g.workers} "
                     f"worker(s)) at {_clock(g.submitted)} by {g.by}; {planner}")
    if chain.last_poll:
        line = str(chain.last_poll.get("line", "")).replace("\n", "\n    ")  # one per pool
        lines.append(f"  last plan at {_clock(chain.last_poll['at'])} by "
                     f"{chain.last_poll['by']}: {line}")
    return lines


# -- the hand-over of a worker and the planner job's entry point ------------------------
def _draining() -> bool:
    """True if the stop file of this worker exists: nobody plans while the work drains."""
    stop = os.environ.get("JUG_EXIT_IF_FILE_EXISTS")
    return bool(stop and os.path.exists(stop))


def budget_spent(reason: str) -> bool:
    """True if a worker stopped because its time budget is spent (not done, not STOP)."""
    from ..hooks import exit_checks

    if _draining():
        return False
    left = exit_checks.time_left()
    if left is None:
        return False
    return left <= 0 or reason.startswith("not enough time left")


def handover_trigger(chain: Chain, why: str, detail: str) -> Trigger | None:
    """Which hand-over a worker of ``chain`` leaving for ``why`` (an ExitReason value) runs:
    a spent budget always; with pools also no work left it could run (its tasks wait on
    another pool, or its pool is done while another's tasks became ready), else the next
    pool's workers would wait for the planner job.  None: no hand-over."""
    from ..workers import ExitReason

    if budget_spent(detail):
        return Trigger.BUDGET
    if chain.pools and why == ExitReason.NO_WORK and not _draining():
        return Trigger.NO_WORK
    return None


def hand_over(store: Any, jugfile: str, why: str, detail: str) -> None:
    """Called by ``jug execute`` when it leaves: plan the next workers if this worker of a
    chain leaves as :func:`handover_trigger` says.  Runs the poll in a child process (fresh
    jugfile load), immune to the walltime's warning signals, so a plan is never cut.
    ``jug execute`` calls it only inside a batch job (outside one there is no chain)."""
    try:
        chain = Chain.load(store, jugfile)
    except Exception:
        return
    trigger = handover_trigger(chain, why, detail) if chain else None
    if chain is None or chain.status != RUNNING or trigger is None:
        return
    flag = ["--handover"] if trigger is Trigger.BUDGET else ["--no-work", f"{time.time():.3f}"]
    cmd = [sys.executable, "-m", "jug.hpc.chain", "--jugdir", chain.jugdir, *flag,
           chain.jugfile]
    sigs = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        print(f"jug: {trigger.value}: handing over ({shlex.join(cmd)})", file=sys.stderr,
              flush=True)
        subprocess.run(cmd, timeout=max(30, int(chain.settings.get("margin") or 60) - 5),
                       start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"jug: hand-over failed: {e}", file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _who() -> tuple[str, tuple[str, str] | None]:
    """(description, (array short id, index)) of this process for the chain record."""
    from ..backends.owner import BatchJob, current_owner, owner_summary

    me = current_owner()
    job = BatchJob.of(me)
    array = job and (job.array_job_id or job.job_id)
    where = (_short(array), job.array_task_id or "") if job and array else None
    return owner_summary(me), where


def _caller(a: Any, chain: Chain | None) -> dict[str, Any]:
    """The :func:`plan_once` arguments of a hand-over or a planner job."""
    who, where = _who()
    if not a.handover and a.no_work is None:
        return {"after": a.generation, "by": f"planner job {who}", "wait": LOCK_WAIT,
                "trigger": Trigger.PLANNER}
    after = chain.generation_of(where[0]) if chain and where else None
    if a.handover:
        return {"after": after, "by": f"worker {who}", "wait": 0.0,
                "trigger": Trigger.BUDGET, "leaver": where}
    return {"after": after, "by": f"worker {who} (no work left)", "wait": NO_WORK_WAIT,
            "trigger": Trigger.NO_WORK, "leaver": where, "since": a.no_work}


def main(argv: list[str] | None = None) -> int:
    """``python -m jug.hpc.chain --jugdir D (--handover | --no-work T | --generation N) JUGFILE``
    (``T``: when the worker left, seconds since the epoch)."""
    import argparse

    from ..backends import StoreError, select_store

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # the jugfile's arguments are in the chain record
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(prog="python -m jug.hpc.chain")
    p.add_argument("--jugdir", required=True)
    p.add_argument("--generation", type=int)
    p.add_argument("--handover", action="store_true")
    p.add_argument("--no-work", type=float, metavar="SINCE")
    p.add_argument("jugfile")
    a = p.parse_args(argv)
    try:
        store = select_store(a.jugdir)
    except StoreError as e:
        print(f"jug chain: {e}", file=sys.stderr)
        return 2
    try:
        result = plan_once(store, a.jugfile, **_caller(a, Chain.load(store, a.jugfile)))
    except (SchedulerError, SubmitError, StoreError) as e:
        print(f"jug chain: {e}", file=sys.stderr)
        return 1
    print(f"jug chain: {result.outcome}: {result.message}", flush=True)
    return 0


def iter_chain_lines(store: Any, jugfile: str) -> Iterator[str]:
    """The chain lines of ``jugfile`` (nothing if it never ran as a chain)."""
    chain = Chain.load(store, jugfile)
    if chain is not None:
        yield from describe(chain)


if __name__ == "__main__":
    sys.exit(main())
