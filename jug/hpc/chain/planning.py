"""Planning the next generation: one poll under the planner lock (:func:`plan_once`), run by a
worker handing over or by the planner job; what it submitted becomes a generation, and what it
found may end the chain.

Things happen at once, so:

* the record is written by compare-and-set (:func:`~.records.save_merged`): a cancel, or
  another planner that planned meanwhile, wins, and this poll cancels what it submitted;
  the poll also reads the record again just before it submits (:class:`~.poll.ChainPoll`);
* a budget hand-over that finds the lock busy leaves a request for its holder
  (:mod:`.requests`), who plans it before releasing the lock;
* a scheduler that does not answer (:meth:`~jug.schedulers.base.Scheduler.error_kind`) is
  asked again with back-off until the caller's deadline; a planner job out of time re-arms a
  planner job; only errors that will not go away (the request refused) stop the chain.
"""

from __future__ import annotations

import copy
import shlex
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from ...schedulers import get_scheduler
from ...schedulers.base import ErrorKind, SchedulerError
from ...state.attempts import retry_hint
from ...status.progress import plural
from .. import sizing
from ..job import JobPlan, cancel_arrays, submitted_arrays
from ..pool_settings import parse_pools
from ..pool_watch import PoolsWatcher
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
    Request,
    Trigger,
    clock,
    resume_command,
    save_merged,
    short_id,
)
from .requests import leave_request, take_request, waiting

#: outcomes of one planning attempt
SUBMITTED = "submitted"
KEPT = "kept"
SKIPPED = "skipped"
ENDED = "ended"
BUSY = "busy"
REQUESTED = "requested"  # the lock was busy: a hand-over request left for its holder
WITHDRAWN = "withdrawn"  # the chain changed meanwhile: what this poll submitted is cancelled
RETRY = "retry"  # the scheduler did not answer (asked again while time is left)
DEFERRED = "deferred"  # it still did not when the time was up (a planner job plans later)

#: first pause before asking a scheduler that did not answer again (doubling each time)
RETRY_FIRST = 5.0
#: longest pause between two tries
RETRY_MAX = 60.0
#: planner jobs re-armed in a row for a scheduler that does not answer, before the chain stops
MAX_ERROR_REARMS = 6


@dataclass
class PlanResult:
    """What one planning attempt did, and a line saying so."""

    outcome: str
    message: str
    arrays: list[str] = field(default_factory=list)
    error: SchedulerError | None = None  # the scheduler error of a RETRY


@dataclass(frozen=True)
class Caller:
    """Who plans, for which generation, and until when (see :func:`plan_once`)."""

    after: int
    by: str
    trigger: Trigger
    leaver: tuple[str, str] | None = None
    since: float | None = None
    deadline: float = 0.0  # seconds since the epoch: no new try after this
    started: float | None = None  # when the leaving worker started (its lock owner record's)


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


def main_plan(chain: Chain) -> JobPlan:
    """The plan planner jobs are rendered with (with pools: the default pool's)."""
    if not chain.pools:
        return rebuild_plan(chain)
    plans = rebuild_plans(chain)
    return plans.get("default") or next(iter(plans.values()))


def _options(chain: Chain) -> WatchOptions:
    """The ``--watch`` knobs of one chain poll."""
    return WatchOptions(max_workers=chain.max_workers, max_queued=chain.max_queued, once=True,
                        stale_after=chain.stale_after)


def _watcher(store: Any, chain: Chain, ctx: ChainContext,
             echo: Callable[[str], None]) -> Watcher:
    """The watcher of one chain poll: the whole jugfile, or every pool with the chain's rules."""
    if not chain.pools:
        return ChainWatcher(rebuild_plan(chain), store, _options(chain), ctx, echo)

    return PoolsWatcher(rebuild_plans(chain), parse_pools(chain.pools), store,
                        _options(chain), echo=echo, sub=partial(ChainPoolWatcher, ctx=ctx))


def _parts(watcher: Watcher) -> list[ChainPoll]:
    """The watchers carrying the chain's rules: the watcher itself, or one per pool."""
    subs = watcher.subs if isinstance(watcher, PoolsWatcher) else [watcher]
    return [w for w in subs if isinstance(w, ChainPoll)]


def plan_once(store: Any, jugfile: str, after: int | None, by: str, trigger: Trigger,
              wait: float = 0.0, echo: Callable[[str], None] = print,
              leaver: tuple[str, str] | None = None, since: float | None = None,
              deadline: float | None = None, started: float | None = None) -> PlanResult:
    """Hand-over / planner job: one poll for the chain of ``jugfile`` under the planner lock.

    ``after`` is the generation the caller belongs to (None: not part of the chain);
    ``leaver`` the (array short id, index) of a worker handing over.  A spent budget means
    every running worker of its pool's arrays up to ``after`` is about to leave (no supply);
    the next generation of that pool is planned once, by whoever comes first.  A worker with
    no work left (``since``: when it left) skips when a poll started after that: it saw
    everything this worker did (so many workers leaving at once make one poll, not many).
    ``deadline``: until when a scheduler that does not answer is asked again (None: once);
    ``started``: when the leaving worker started (others of its arrays that started well
    after it are not leaving).
    """
    chain = Chain.load(store, jugfile)
    if chain is None or after is None:
        return PlanResult(SKIPPED, "not part of a --until-done chain: nothing to plan")
    call = Caller(after, by, trigger, leaver, since,
                  time.time() if deadline is None else deadline, started)
    lock = PlannerLock(store, jugfile, wait, _scheduler(chain))
    mine: Request | None = None
    if not lock.acquire():
        if trigger not in (Trigger.BUDGET, Trigger.PLANNER):
            return PlanResult(BUSY, "another process is planning the chain right now")
        said, mine = leave_request(store, jugfile, after, by, leaver, started, trigger)
        lock.wait = 0.0  # one more try: a holder that released meanwhile did not see it
        if mine is None or not lock.acquire():  # else: the lock's holder plans it
            return PlanResult(SKIPPED if mine is None else REQUESTED, said)
    try:
        result = plan_locked(store, jugfile, call, echo) if mine is None else None
        served = _serve_requests(store, jugfile, call.deadline, echo)
    finally:
        lock.release()
    _serve_after_release(store, jugfile, call.deadline, echo)
    if result is None:
        result = served.get(mine) or PlanResult(SKIPPED, "its request was planned already")
    return result


def _serve_requests(store: Any, jugfile: str, deadline: float,
                    echo: Callable[[str], None]) -> dict[Request, PlanResult]:
    """Plan every hand-over request in the record, oldest first (lock held): what each
    one's poll did."""
    served: dict[Request, PlanResult] = {}
    while (request := take_request(store, jugfile)) is not None:
        served[request] = plan_locked(store, jugfile, Caller(
            request.after, request.by, Trigger(request.trigger), request.leaver, None,
            deadline, request.started), echo)
    return served


def _serve_after_release(store: Any, jugfile: str, deadline: float,
                         echo: Callable[[str], None]) -> None:
    """After releasing the lock: requests written while it was being released are planned
    here, unless the lock has a new holder (who plans them before it releases)."""
    while waiting(store, jugfile):
        lock = PlannerLock(store, jugfile, 0.0)
        if not lock.acquire():
            return
        try:
            _serve_requests(store, jugfile, deadline, echo)
        finally:
            lock.release()


def _scheduler(chain: Chain) -> Any:
    """The chain's scheduler adapter (asks the queue whether a lock's owner still runs)."""
    try:
        return get_scheduler(chain.scheduler, chain.settings)
    except SchedulerError:
        return None


def plan_locked(store: Any, jugfile: str, call: Caller,
                echo: Callable[[str], None]) -> PlanResult:
    """One poll (lock held), asked again with back-off while the scheduler does not answer
    and ``call.deadline`` allows; when it does not: :func:`_out_of_time`."""
    delay = RETRY_FIRST
    while True:
        chain = Chain.load(store, jugfile)
        skip = _skip(chain, call)
        if skip is not None:
            return skip
        result = run_poll(store, _context(chain, call), call.by, call.trigger, echo)
        if result.outcome != RETRY:
            return result
        if time.time() + delay > call.deadline:
            return _out_of_time(store, jugfile, call, result)
        echo(f"the scheduler did not answer ({result.message}); asking again in {delay:.0f}s")
        time.sleep(delay)
        delay = min(2 * delay, RETRY_MAX)


def _skip(chain: Chain | None, call: Caller) -> PlanResult | None:
    """Why this call plans nothing (None: it plans)."""
    if chain is None:
        return PlanResult(SKIPPED, "not part of a --until-done chain: nothing to plan")
    if chain.status != RUNNING:
        return PlanResult(SKIPPED, f"the chain is {chain.status}: {chain.reason}")
    pool = chain.pool_of(call.leaver[0]) if call.leaver else None
    nxt = (chain.successor_of(call.after, pool) if call.trigger is Trigger.BUDGET
           else chain.successor_of(call.after) if call.trigger is Trigger.PLANNER else None)
    if nxt is not None:
        return PlanResult(SKIPPED, f"generation {nxt.n} after generation {call.after} was "
                          f"planned by {nxt.by} at {clock(nxt.submitted)}")
    if call.since is not None and float(chain.last_poll.get("started") or 0) >= call.since:
        return PlanResult(SKIPPED, f"{chain.last_poll.get('by')} polled after this worker "
                          f"left, at {clock(chain.last_poll['started'])}")
    return None


def expiring_arrays(chain: Chain, after: int, pool: str | None,
                    started: float | None) -> dict[str, float | None]:
    """``{short id: started}`` of ``pool``'s arrays up to generation ``after``: their workers'
    budgets are spent when a worker of generation ``after`` that started at ``started``
    hands over (those that started well after it keep theirs, see
    :meth:`~.poll.ChainPoll._adjust`)."""
    return {short_id(a): started for g in chain.generations if g.n <= after
            for a in g.arrays_of(pool)}


def _context(chain: Chain, call: Caller) -> ChainContext:
    """The shared state of one poll: a budget hand-over's arrays and those of the requests
    still waiting in the record are leaving, whoever polls (another pool's worker too)."""
    expiring: dict[str, float | None] = {}
    leaving = [r for r in map(Request.of, chain.requests) if r.leaving]
    if call.trigger is Trigger.BUDGET:
        pool = chain.pool_of(call.leaver[0]) if call.leaver else None
        leaving.append(Request(call.after, pool, call.leaver, call.by, 0.0, call.started))
    for r in leaving:
        for a, started in expiring_arrays(chain, r.after, r.pool, r.started).items():
            known = [t for t in (expiring.get(a), started) if t is not None]
            expiring[a] = min(known) if known else None
    return ChainContext(chain, call.after, expiring,
                        call.leaver if call.trigger is Trigger.NO_WORK else None)


def run_poll(store: Any, ctx: ChainContext, by: str, trigger: Trigger,
             echo: Callable[[str], None]) -> PlanResult:
    """The body of :func:`plan_once` (lock held, chain running, generation not yet planned)."""
    chain = ctx.chain
    base = copy.deepcopy(chain)
    watcher = _watcher(store, chain, ctx, echo)
    started = time.time()
    try:
        result = watcher.poll()
    except SchedulerError as e:
        return _poll_failed(store, base, chain, watcher, e, trigger)
    new = [d for p in _parts(watcher) for d in p.submitted]  # type: ignore[attr-defined]
    chain.last_poll = {"started": started, "at": time.time(), "by": by, "line": result.line}
    outcome = _record(chain, watcher, result, new, ctx, by, trigger)
    written, withdrawn = save_merged(store, base, chain)
    if withdrawn:
        return withdraw(store, watcher.plan, written, withdrawn)
    return outcome


def _record(chain: Chain, watcher: Watcher, result: Any, new: list[dict], ctx: ChainContext,
            by: str, trigger: Trigger) -> PlanResult:
    """What the poll did, in the record: its end of the chain, a re-armed planner job, the
    new generation with its planner job.  Returns the outcome."""
    d = result.decision
    outcome = PlanResult(KEPT, f"{d.action}: {d.reason}")
    transient = _judge(chain, watcher, result, trigger)
    if transient is not None and not new:
        return PlanResult(RETRY, transient.line(), error=transient)
    chain.error_rearms = 0
    if ctx.superseded and not new:
        return PlanResult(SKIPPED, f"{ctx.superseded}: nothing submitted")
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
                             f"({plural(gen.workers, 'worker')}); planner "
                             f"{gen.planner or 'none'}", gen.arrays)
    return outcome


def _poll_failed(store: Any, base: Chain, chain: Chain, watcher: Watcher,
                 e: SchedulerError, trigger: Trigger) -> PlanResult:
    """The queue query failed: ask again if the scheduler did not answer; an error that will
    not go away stops the chain when the planner job meets it (a worker leaves it to the
    planner job, which may run where the command works)."""
    words = e.line()
    if watcher.sched.error_kind(e) is ErrorKind.TRANSIENT:
        return PlanResult(RETRY, words, error=e)
    if trigger is not Trigger.PLANNER:
        return PlanResult(KEPT, f"the scheduler's queue cannot be read ({words}): the planner "
                          f"job will plan")
    chain.end(STOPPED, f"the scheduler's queue cannot be read, an error that will not go "
              f"away by itself ({words}); after a fix: {resume_command(chain)}")
    save_merged(store, base, chain)
    return PlanResult(ENDED, f"chain {chain.status}: {chain.reason}")


def _out_of_time(store: Any, jugfile: str, call: Caller, failed: PlanResult) -> PlanResult:
    """The scheduler still does not answer and the caller's time is up.  A worker leaves it
    to its generation's planner job; a planner job (or a worker of a generation without
    one) submits a new planner job so the chain keeps one, and after
    :data:`MAX_ERROR_REARMS` of them in a row the chain stops saying why."""
    chain = Chain.load(store, jugfile)
    if chain is None or chain.status != RUNNING:
        return failed
    gen = next((g for g in chain.generations if g.n == call.after), None)
    words = failed.message
    if call.trigger is not Trigger.PLANNER and gen and (gen.planner or gen.rearmed):
        return PlanResult(DEFERRED, f"the scheduler did not answer ({words}): the planner job "
                          f"of generation {gen.n} will plan")
    base = copy.deepcopy(chain)
    chain.error_rearms += 1
    if chain.error_rearms > MAX_ERROR_REARMS:
        chain.end(STOPPED, f"the scheduler did not answer {MAX_ERROR_REARMS} planner jobs in "
                  f"a row ({words}); when it answers again: {resume_command(chain)}")
    elif gen is not None:
        rearm(main_plan(chain), chain, gen.n, [])
        if len(base.helpers()) == len(chain.helpers()):
            chain.end(STOPPED, f"the scheduler did not answer ({words}) and no planner job "
                      f"could be submitted; when it answers again: {resume_command(chain)}")
    written, _ = save_merged(store, base, chain)
    if written.status != RUNNING:
        return PlanResult(ENDED, f"chain {written.status}: {written.reason}", error=failed.error)
    return PlanResult(DEFERRED, f"the scheduler did not answer ({words}): re-armed planner "
                      f"job {chain.helpers()[-1]}", error=failed.error)


def withdraw(store: Any, plan: JobPlan, written: Chain,
              withdrawn: list[Generation]) -> PlanResult:
    """Cancel what this poll submitted: the chain ended meanwhile (a cancel wins), or another
    planner planned a generation (its workers stay, ours go)."""
    arrays = [a for g in withdrawn for a in g.arrays]
    jobs = [j for g in withdrawn for j in ([g.planner] if g.planner else []) + g.rearmed]
    docs = {k: d for k, d in submitted_arrays(store, written.jugfile).items()
            if d["job_id"] in arrays}
    note = ""
    try:
        cancel_arrays(store, docs, plan.settings, echo=lambda s: None)
        plan.scheduler.cancel(jobs)
    except SchedulerError as e:
        note = f" (cancelling failed: {e.line()})"
    why = (f"the chain was {written.status} meanwhile" if written.status != RUNNING
           else f"{written.generations[-1].by} planned generation "
                f"{written.generations[-1].n} meanwhile")
    return PlanResult(WITHDRAWN, f"{why}: cancelled what this poll submitted "
                      f"({', '.join(arrays + jobs) or 'nothing'}){note}")


def _generation(chain: Chain, docs: list[dict], parts: list[ChainPoll], by: str,
                after: int) -> Generation:
    """The generation of the arrays ``docs`` a poll just submitted (one per pool)."""
    finished = {p.chain_pool or "": p.tc.finished for p in parts if p.tc is not None}
    return Generation(len(chain.generations) + 1, [d["job_id"] for d in docs],
                      sum(int(d.get("size") or 0) for d in docs), time.time(), by, after,
                      sum(finished.values()),
                      pools={d["job_id"]: d["pool"] for d in docs if d.get("pool")},
                      pool_finished={p: n for p, n in finished.items() if p})


def _judge(chain: Chain, watcher: Watcher, result: Any,
           trigger: Trigger) -> SchedulerError | None:
    """End the chain where the poll says so: done, failed, drained, out of bounds, stuck,
    or a submission the scheduler refused for good with no worker of the chain left to
    retry.  Returns the error of a submission the scheduler did not answer (asked again)."""
    d = result.decision
    parts = _parts(watcher)
    stop = next((p.stop_reason for p in parts if p.stop_reason), None)
    error = next((p.reject_error for p in parts if p.reject_error), None)  # type: ignore[attr-defined]
    transient = error is not None and watcher.sched.error_kind(error) is ErrorKind.TRANSIENT
    if stop:
        chain.end(STOPPED, stop)
    elif d.action == sizing.FAILED:
        jf = shlex.quote(chain.jugfile)
        chain.end(FAILED, f"{d.reason}; see jug status --traceback all {jf}; " + retry_hint(
            chain.jugfile, resume_command(chain, jugfile=False), chain=True))
    elif d.action in (sizing.DONE, sizing.STUCK):
        chain.end(DONE if d.action == sizing.DONE else STOPPED, d.reason)
    elif d.action in (sizing.DRAIN, sizing.DRAINED):
        chain.end(DRAINED, f"the stop file {watcher.plan.stop_file} exists: no new workers "
                  f"(to resume: rm {shlex.quote(watcher.plan.stop_file)}; "
                  f"{resume_command(chain)})")
    elif transient:
        return error
    elif watcher.rejected and trigger is not Trigger.BUDGET and not any(
            a.job_id in set(chain.arrays()) for a in result.arrays):
        words = next((p.last_reject for p in parts if p.last_reject), "?")  # type: ignore[attr-defined]
        chain.end(STOPPED, f"the scheduler rejected the next generation, an error that will "
                  f"not go away by itself, and no worker of the chain is left to retry "
                  f"({words.splitlines()[0]}); after a fix: {resume_command(chain)}")
    return None
