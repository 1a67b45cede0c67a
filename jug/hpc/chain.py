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
from typing import Any, Callable, Iterator, Mapping

from ..schedulers.base import SchedulerError
from . import sizing
from .job import (
    STATE_NAMESPACE,
    JobPlan,
    SubmitError,
    _sanitize_name,
    state_name,
    submitted_arrays,
)
from .settings import default
from .watch import Watcher, WatchOptions

CHAIN_NAMESPACE = "chain"
#: generation limit when no run times are recorded yet
DEFAULT_GENERATIONS = 20
#: no chain runs more generations than this, whatever the options say
HARD_GENERATIONS = 100
#: the planner job's walltime unless ``planner-walltime`` says otherwise (seconds)
PLANNER_WALLTIME = 600
#: how long a planner job waits for the planner lock held by a live process (seconds)
LOCK_WAIT = 120.0

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

    def successor_of(self, n: int) -> Generation | None:
        """The generation planned after generation ``n``, if any."""
        return next((g for g in self.generations if g.after == n), None)

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


def bound_reason(chain: Chain, after: int, finished_now: int) -> str | None:
    """Why the generation after ``after`` must not be submitted, or None (it may)."""
    if len(chain.generations) >= chain.max_generations:
        return (f"generation limit reached: {len(chain.generations)} generation(s) ran "
                f"(--max-generations {chain.max_generations})")
    prev = next((g for g in chain.generations if g.n == after), None)
    if prev is not None and finished_now <= prev.finished_before:
        log_dir = chain.settings.get("log_dir") or default("log_dir")
        return (f"generation {prev.n} (array(s) {', '.join(prev.arrays)}) finished no task: "
                f"see the worker logs in {log_dir} and 'jug status'; after a fix run jug "
                f"submit --until-done again")
    return None


# -- one poll --------------------------------------------------------------------------------
class ChainWatcher(Watcher):
    """One ``--watch`` poll for a chain: workers about to leave do not count as supply."""

    def __init__(self, plan: JobPlan, store: Any, opts: WatchOptions, chain: Chain,
                 after: int, expiring: set[str], echo: Callable[[str], None]) -> None:
        super().__init__(plan, store, opts, echo=echo)
        self.chain = chain
        self.after = after
        self.expiring = expiring  # short ids of arrays whose running workers are leaving
        self.tc: sizing.TaskCounts | None = None
        self.stop_reason: str | None = None

    def _beat(self) -> None:
        """A chain poll is not a ``--watch`` loop: leave the watch record alone."""

    def _adjust(self, tc: sizing.TaskCounts, arrays: list[sizing.ArrayState],
                snap: Any) -> tuple[sizing.TaskCounts, list[sizing.ArrayState]]:
        """Running workers of leaving arrays, and the tasks they finish, are no supply/need."""
        from .watch import owner_key

        leaving = sum(1 for o in snap.locks.values()
                      if (k := owner_key(o)) and k[0] == self.sched.name
                      and k[1] in self.expiring)
        tc = replace(tc, running=max(0, tc.running - leaving))
        arrays = [replace(a, running=0, idle=0) if _short(a.job_id) in self.expiring else a
                  for a in arrays]
        self.tc = tc
        return tc, arrays

    def _act(self, d: sizing.Decision, docs: dict[str, dict], counts: dict) -> str:
        """Refuse a new generation beyond the bounds (the reason ends the chain)."""
        if d.new_workers and self.tc is not None:
            why = bound_reason(self.chain, self.after, self.tc.finished)
            if why:
                self.stop_reason = why
                d.submit = []
        return super()._act(d, docs, counts)


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


def _options(chain: Chain) -> WatchOptions:
    """The ``--watch`` knobs of one chain poll."""
    return WatchOptions(max_workers=chain.max_workers, max_queued=chain.max_queued, once=True,
                        stale_after=chain.stale_after)


def plan_once(store: Any, jugfile: str, after: int | None, by: str, leaving: bool,
              wait: float = 0.0, echo: Callable[[str], None] = print) -> PlanResult:
    """Hand-over / planner job: one poll for the chain of ``jugfile`` under the planner lock.

    ``after`` is the generation the caller belongs to (None: not part of the chain);
    ``leaving``: the running workers of generations up to ``after`` are about to leave (a
    hand-over), so they count as no supply.
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
        nxt = chain.successor_of(after)
        if nxt is not None:
            return PlanResult(SKIPPED, f"generation {nxt.n} after generation {after} was "
                              f"planned by {nxt.by} at {_clock(nxt.submitted)}")
        return _poll(store, chain, after, by, leaving, echo)
    finally:
        lock.release()


def _poll(store: Any, chain: Chain, after: int, by: str, leaving: bool,
          echo: Callable[[str], None]) -> PlanResult:
    """The body of :func:`plan_once` (lock held, chain running, generation not yet planned)."""
    plan = rebuild_plan(chain)
    expiring = ({_short(a) for g in chain.generations if g.n <= after for a in g.arrays}
                if leaving else set())
    watcher = ChainWatcher(plan, store, _options(chain), chain, after, expiring, echo)
    before = set(submitted_arrays(store, chain.jugfile))
    result = watcher.poll()
    new = [d["job_id"] for k, d in submitted_arrays(store, chain.jugfile).items()
           if k not in before]
    chain.last_poll = {"at": time.time(), "by": by, "line": result.line}
    d = result.decision
    outcome = PlanResult(KEPT, f"{d.action}: {d.reason}")
    _judge(chain, watcher, result, plan.stop_file, leaving)
    if chain.status != RUNNING:
        outcome = PlanResult(ENDED, f"chain {chain.status}: {chain.reason}")
    if not new and not leaving and chain.status == RUNNING and result.arrays:
        _rearm(plan, chain, after, [a.job_id for a in result.arrays])
    if new:
        alive = [a.job_id for a in result.arrays if a.job_id in set(chain.arrays())]
        gen = Generation(len(chain.generations) + 1, new,
                         sum(int(d.get("size") or 0) for d in _docs(store, new)), time.time(),
                         by, after, watcher.tc.finished if watcher.tc else 0)
        chain.generations.append(gen)
        _attach_planner(plan, chain, gen, [*new, *[a for a in alive if a not in new]])
        outcome = PlanResult(SUBMITTED, f"generation {gen.n}: {', '.join(new)} "
                             f"({gen.workers} worker(s)); planner {gen.planner or 'none'}", new)
    chain.save(store)
    return outcome


def _judge(chain: Chain, watcher: ChainWatcher, result: Any, stop_file: str,
           leaving: bool) -> None:
    """End the chain where the poll says so: done, failed, drained, out of bounds, stuck,
    or a planner job whose submission the scheduler rejected with no worker left to retry."""
    d = result.decision
    if watcher.stop_reason:
        chain.end(STOPPED, watcher.stop_reason)
    elif d.action in (sizing.DONE, sizing.FAILED, sizing.STUCK):
        chain.end(DONE if d.action == sizing.DONE else FAILED if d.action == sizing.FAILED
                  else STOPPED, d.reason)
    elif d.action in (sizing.DRAIN, sizing.DRAINED):
        chain.end(DRAINED, f"the stop file {stop_file} exists: no new workers (remove it "
                  f"and run jug submit --until-done again to resume)")
    elif watcher.rejected and not leaving and not any(
            a.job_id in set(chain.arrays()) for a in result.arrays):
        chain.end(STOPPED, f"the scheduler rejected the next generation and no worker of the "
                  f"chain is left to retry ({(watcher.last_reject or '?').splitlines()[0]}); after a "
                  f"fix run jug submit --until-done again")


def _docs(store: Any, job_ids: list[str]) -> list[dict]:
    """The recorded array documents of ``job_ids``."""
    wanted = set(job_ids)
    return [d for d in store.read_docs(STATE_NAMESPACE).values() if d.get("job_id") in wanted]


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


def start(plan: JobPlan, store: Any, opts: WatchOptions, max_generations: int | None,
          summary: Mapping[str, Any], echo: Callable[[str], None] = print) -> Chain:
    """Submit generation 1 and its planner job; record the chain.  Returns at once."""
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
    limit = max_generations or default_generations(
        remaining, Durations.from_store(store).typical, opts.max_workers, plan.budget)
    chain = Chain(plan.jugfile, plan.jugdir, plan.workdir, plan.scheduler.name,
                  recorded_settings(plan), list(plan.jugfile_args), opts.max_workers,
                  opts.max_queued, limit, opts.stale_after, time.time())
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
    if gen.planner:
        echo(f"submitted planner job {gen.planner} (runs when generation 1 has ended)")
    else:
        echo(f"warning: the planner job was not submitted ({gen.planner_error}); workers "
             f"still hand over when their budget is spent")
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
    head = (f"chain (--until-done): {chain.status}, generation {len(chain.generations)} of at "
            f"most {chain.max_generations}, {workers} worker(s) submitted since "
            f"{_clock(chain.started)}")
    lines = [head]
    if chain.reason:
        lines.append(f"  {chain.status}: {chain.reason}")
    for g in chain.generations:
        planner = (f"planner job {g.planner}" if g.planner
                   else f"no planner job ({g.planner_error})" if g.planner_error else "")
        if g.rearmed:
            planner += f", re-armed as {', '.join(g.rearmed)}"
        lines.append(f"  generation {g.n}: array(s) {', '.join(g.arrays)} ({g.workers} "
                     f"worker(s)) at {_clock(g.submitted)} by {g.by}; {planner}")
    if chain.last_poll:
        lines.append(f"  last plan at {_clock(chain.last_poll['at'])} by "
                     f"{chain.last_poll['by']}: {chain.last_poll.get('line', '')}")
    return lines


# -- the hand-over of a worker and the planner job's entry point ------------------------
def budget_spent(reason: str) -> bool:
    """True if a worker stopped because its time budget is spent (not done, not STOP)."""
    from ..hooks import exit_checks

    stop = os.environ.get("JUG_EXIT_IF_FILE_EXISTS")
    if stop and os.path.exists(stop):
        return False
    left = exit_checks.time_left()
    if left is None:
        return False
    return left <= 0 or reason.startswith("not enough time left")


def hand_over(store: Any, jugfile: str, reason: str) -> None:
    """Called by ``jug execute`` when it stops: plan the next generation if this worker of a
    chain leaves because its budget is spent.  Runs the poll in a child process (fresh
    jugfile load), immune to the walltime's warning signals, so a plan is never cut."""
    from ..backends.owner import batch_job

    if batch_job() is None or not budget_spent(reason):
        return
    try:
        chain = Chain.load(store, jugfile)
    except Exception:
        return
    if chain is None or chain.status != RUNNING:
        return
    cmd = [sys.executable, "-m", "jug.hpc.chain", "--jugdir", chain.jugdir,
           "--handover", chain.jugfile]
    sigs = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        print(f"jug: budget spent: handing over ({shlex.join(cmd)})", file=sys.stderr,
              flush=True)
        subprocess.run(cmd, timeout=max(30, int(chain.settings.get("margin") or 60) - 5),
                       start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"jug: hand-over failed: {e}", file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _who() -> tuple[str, str | None]:
    """(description, array short id) of this process for the chain record."""
    from ..backends.owner import BatchJob, current_owner, owner_summary

    me = current_owner()
    job = BatchJob.of(me)
    array = job and (job.array_job_id or job.job_id)
    return owner_summary(me), (_short(array) if array else None)


def main(argv: list[str] | None = None) -> int:
    """``python -m jug.hpc.chain --jugdir D (--handover | --generation N) JUGFILE``."""
    import argparse

    from ..backends import StoreError, select_store

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # the jugfile's arguments are in the chain record
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(prog="python -m jug.hpc.chain")
    p.add_argument("--jugdir", required=True)
    p.add_argument("--generation", type=int)
    p.add_argument("--handover", action="store_true")
    p.add_argument("jugfile")
    a = p.parse_args(argv)
    try:
        store = select_store(a.jugdir)
    except StoreError as e:
        print(f"jug chain: {e}", file=sys.stderr)
        return 2
    who, array = _who()
    chain = Chain.load(store, a.jugfile)
    if a.handover:
        after = chain.generation_of(array) if chain and array else None
        by, wait = f"worker {who}", 0.0
    else:
        after, by, wait = a.generation, f"planner job {who}", LOCK_WAIT
    try:
        result = plan_once(store, a.jugfile, after, by, a.handover, wait)
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
