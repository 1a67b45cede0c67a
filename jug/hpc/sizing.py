"""How many workers the resubmit loop keeps alive: pure functions, no store, no scheduler.

``jug submit --watch`` calls :func:`analyse` on the task states of one bulk store read (with
the dependency structure and recorded run times) to get :class:`TaskCounts`, describes each
live array it submitted as an :class:`ArrayState` from one queue query, and asks
:func:`decide` what to do.  Keeping the decision pure lets the unit tests cover many task and
queue states without a cluster.

The rule: workers wanted = min(max-workers, workers the work that can run within one
walltime can use), where that work is the tasks running now, the tasks ready now (crashed
ones are reclaimed and ready again) and the waiting tasks whose dependencies all finish
within the walltime, estimated from recorded run times through chains of dependencies (see
:func:`analyse`; soon-ready tasks reuse the workers their dependencies free, see
:func:`workers_needed`).  Tasks whose typical run time exceeds a worker's budget count for
nothing: no worker would start them.  The supply is the running workers plus the pending ones the
scheduler will start (elements held back by a throttle do not count).  A deficit first
raises the throttle of live arrays with held elements, then submits one new array (split by
the site's array size limit, capped by ``--max-queued``).  A surplus cancels the pending
elements of the newest arrays or, for part of an array, lowers its throttle; when no task
is ready or about to be (e.g. only a reduce runs), idle running workers are stopped too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Mapping, Sequence

from ..schedulers.base import split_sizes


class Action(Enum):
    """What the loop does this poll (printed by its value in the poll line)."""

    SUBMIT = "submit"  # new arrays and/or raised throttles
    SHRINK = "shrink"  # pending elements cancelled and/or throttles lowered
    KEEP = "keep"  # nothing to change
    DONE = "done"  # every task finished: exit 0
    FAILED = "failed"  # only failed tasks (and tasks that need them) remain: exit 1
    DRAIN = "drain"  # stop file: nothing new, pending elements cancelled, wait for running ones
    DRAINED = "drained"  # stop file and no worker left: exit
    STUCK = "stuck"  # no worker could ever start what is left (tasks longer than the budget)

    def __str__(self) -> str:
        return self.value


SUBMIT, SHRINK, KEEP = Action.SUBMIT, Action.SHRINK, Action.KEEP
DONE, FAILED, DRAIN, DRAINED, STUCK = (Action.DONE, Action.FAILED, Action.DRAIN, Action.DRAINED,
                                       Action.STUCK)

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_STUCK = 2
EXIT_DRAINED = 3


@dataclass(frozen=True)
class TaskCounts:
    """Task states of the jugfile, plus what the dependency structure says about them."""

    ready: int = 0
    waiting: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    crashed: int = 0
    soon: int = 0  # waiting tasks whose dependencies all finish within one walltime
    soon_peak: int | None = None  # most soon-ready tasks of one dependency level (None: soon)
    blocked: int = 0  # waiting tasks that can never run: a dependency failed
    too_long: int = 0  # ready/crashed tasks whose typical run time exceeds a worker's budget
    task_seconds: float | None = None  # typical run time of the runnable tasks (None: unknown)
    incomplete: bool = False  # the jugfile stopped at a barrier: more tasks will follow

    @property
    def runnable(self) -> int:
        """Tasks a worker could start now (crashed ones are reclaimed before they run)."""
        return self.ready + self.crashed

    @property
    def left(self) -> int:
        """Tasks not finished and not failed."""
        return self.ready + self.waiting + self.running + self.crashed

    @property
    def total(self) -> int:
        """Every task of the jugfile (so far, if it stopped at a barrier)."""
        return self.left + self.finished + self.failed


@dataclass(frozen=True)
class ArrayState:
    """One array this loop (or ``jug submit``) submitted, as the queue shows it now."""

    job_id: str
    pending: int = 0
    running: int = 0
    throttle: int | None = None  # running-elements limit (None or 0: none)
    submitted: float = 0.0  # submission time (newest arrays shrink first)
    idle: int = 0  # running elements that hold no task lock

    @property
    def startable(self) -> int:
        """Pending elements the scheduler will start (not held back by the throttle)."""
        if not self.throttle:
            return self.pending
        return min(self.pending, max(0, self.throttle - self.running))

    @property
    def held(self) -> int:
        """Pending elements held back by the throttle."""
        return self.pending - self.startable

    @property
    def alive(self) -> int:
        """Elements in the queue (pending, held or running)."""
        return self.pending + self.running


@dataclass(frozen=True)
class Limits:
    """What the user and the site allow."""

    max_workers: int
    max_queued: int | None = None  # elements of our arrays in the queue, pending or running
    max_array_size: int | None = None
    can_throttle: bool = True  # the scheduler changes a live array's throttle
    draining: bool = False  # the stop file exists
    per_job: int = 1  # workers per array element (--workers-per-job): arrays count jobs
    min_per_job: int | None = None  # a partly filled job needs this many busy workers


def whole_jobs(workers: int, per_job: int, min_per_job: int | None = None) -> int:
    """The jobs of ``per_job`` workers that ``workers`` wanted workers fill: the full ones,
    plus a partly filled one only if at least ``min_per_job`` of its workers have a task
    (default: half of them), so that 3 ready tasks never start a 128-worker job, but at
    least one job whenever there is any work (else it would never be done)."""
    if per_job <= 1 or workers <= 0:
        return max(0, workers)
    least = per_job // 2 + per_job % 2 if min_per_job is None else max(1, min_per_job)
    full, rest = divmod(workers, per_job)
    return max(1, full + (1 if rest >= least else 0))


@dataclass
class Decision:
    """What to do this poll, and why (one line for the user)."""

    action: Action
    reason: str
    wanted: int = 0  # workers the work can use (capped by max-workers)
    supply: int = 0  # running workers plus pending ones that will start
    submit: list[int] = field(default_factory=list)  # sizes of new arrays
    throttle: dict[str, int] = field(default_factory=dict)  # array -> new throttle
    cancel_pending: list[str] = field(default_factory=list)  # arrays losing pending elements
    cancel_idle: dict[str, int] = field(default_factory=dict)  # array -> idle workers to stop
    exit_code: int | None = None  # the loop ends with this code

    @property
    def new_workers(self) -> int:
        """Workers added by new arrays."""
        return sum(self.submit)


def workers_needed(counts: TaskCounts) -> int:
    """Workers the work of the next walltime can use (no cap).

    The width now is the running plus the startable tasks.  A soon-ready task runs on a
    worker freed by one of its dependencies, so soon-ready tasks add workers only where a
    level of them fans out beyond that width (peak = max(width, widest soon level)); more
    would wait idle for a long dependency, give up and be resubmitted over and over.
    """
    startable = max(0, counts.runnable - counts.too_long)
    peak = counts.soon if counts.soon_peak is None else counts.soon_peak
    return max(counts.running + startable, peak)


def workers_wanted(counts: TaskCounts, max_workers: int) -> int:
    """Workers the work of the next walltime can use, at most ``max_workers``."""
    return max(0, min(max_workers, workers_needed(counts)))


def _task_words(counts: TaskCounts) -> str:
    """``5 ready + 3 soon`` for decision reasons."""
    parts = [f"{counts.runnable - counts.too_long} ready"]
    if counts.soon:
        parts.append(f"{counts.soon} soon ready")
    if counts.running:
        parts.append(f"{counts.running} running")
    return " + ".join(parts)


def decide(counts: TaskCounts, arrays: Sequence[ArrayState], budget: float,
           limits: Limits) -> Decision:
    """The loop's decision for one poll (pure: same input, same answer)."""
    running = sum(a.running for a in arrays)
    supply = running + sum(a.startable for a in arrays)
    with_pending = [a.job_id for a in sorted(arrays, key=lambda a: -a.submitted) if a.pending]
    final = _ending(counts, budget, limits, running)
    if final is not None:
        action, reason, code = final
        return Decision(action, reason, 0, supply, cancel_pending=with_pending, exit_code=code)
    wanted = workers_wanted(counts, limits.max_workers)
    why = _task_words(counts)
    if workers_needed(counts) > limits.max_workers:
        why += f", capped by max-workers {limits.max_workers}"
    if limits.per_job > 1:  # the arrays' elements are jobs of per_job workers
        why += f"; {wanted} worker(s) in jobs of {limits.per_job}"
        wanted = whole_jobs(wanted, limits.per_job, limits.min_per_job)
    d = Decision(KEEP, "", wanted, supply)
    if wanted > supply:
        _grow(d, arrays, limits, why)
    elif wanted < supply:
        _shrink(d, counts, arrays, limits, why, running)
    else:
        d.reason = f"enough workers (want {wanted}: {why}; have {supply})"
    return d


def _ending(counts: TaskCounts, budget: float, limits: Limits,
            running: int) -> tuple[Action, str, int | None] | None:
    """Draining, done, failed or stuck: (action, reason, exit code), or None to size workers."""
    if limits.draining:
        if running:
            return (DRAIN, f"stop file: no new workers; waiting for {running} running "
                    "worker(s) to finish their task", None)
        return DRAINED, "stop file: no worker left", EXIT_DRAINED
    if counts.left == 0 and not counts.incomplete:
        if counts.failed:
            return FAILED, f"only failed tasks remain ({counts.failed})", EXIT_FAILED
        return DONE, f"all {counts.finished} tasks finished", EXIT_DONE
    if (counts.failed and not counts.runnable and not counts.running
            and counts.waiting == counts.blocked):
        return (FAILED, f"only failed tasks ({counts.failed}) and {counts.blocked} "
                "task(s) that need them remain", EXIT_FAILED)
    if (counts.runnable and counts.too_long == counts.runnable and not counts.running
            and not counts.soon):
        return (STUCK, f"every runnable task ({counts.too_long}) typically takes longer "
                f"than a worker's budget of {budget:.0f}s: give a longer --walltime", EXIT_STUCK)
    return None


def _grow(d: Decision, arrays: Sequence[ArrayState], limits: Limits, why: str) -> None:
    """A deficit: raise the throttles of arrays with held elements first, then submit."""
    deficit = d.wanted - d.supply
    if limits.can_throttle:
        for a in sorted(arrays, key=lambda a: a.submitted):
            if deficit <= 0:
                break
            if a.held and a.throttle:
                add = min(a.held, deficit)
                d.throttle[a.job_id] = a.throttle + add
                deficit -= add
    raised = d.wanted - d.supply - deficit
    alive = sum(a.alive for a in arrays)
    room = deficit if limits.max_queued is None else max(0, min(deficit, limits.max_queued - alive))
    d.submit = split_sizes(room, limits.max_array_size)
    parts = []
    if raised:
        parts.append(f"raise throttle by {raised}")
    if room:
        parts.append(f"submit {room}")
    if room < deficit:
        parts.append(f"{deficit - room} more held back by max-queued {limits.max_queued}")
    d.action = SUBMIT if (raised or room) else KEEP
    d.reason = f"{'; '.join(parts)} (want {d.wanted}: {why}; have {d.supply})"


def _shrink(d: Decision, counts: TaskCounts, arrays: Sequence[ArrayState], limits: Limits,
            why: str, running: int) -> None:
    """A surplus: cancel or throttle pending elements (newest arrays first); stop idle
    running workers only when no task could start on them."""
    excess, cut = _cut_pending(d, arrays, limits)
    idle_cut = 0
    if excess > 0 and counts.runnable - counts.too_long + counts.soon <= 0:
        # nothing a new task could start on: idle running workers only wait (e.g. for the
        # reduce another worker runs); stopping one loses nothing (jug releases its lock)
        for a in sorted(arrays, key=lambda a: -a.submitted):
            n = min(a.idle, excess)
            if n > 0:
                d.cancel_idle[a.job_id] = n
                excess -= n
                idle_cut += n
    if not (cut or idle_cut):
        d.reason = (f"{d.supply - d.wanted} more worker(s) than the work needs; running ones "
                    f"exit when idle (want {d.wanted}: {why})")
        return
    d.action = SHRINK
    parts = []
    if cut:
        parts.append(f"drop {cut} pending worker(s)")
    if idle_cut:
        parts.append(f"stop {idle_cut} idle worker(s): no task for them")
    d.reason = (f"{'; '.join(parts)} (want {d.wanted}: {why}; have {d.supply}; "
                f"{running} running)")


def _cut_pending(d: Decision, arrays: Sequence[ArrayState], limits: Limits) -> tuple[int, int]:
    """Cancel whole pending parts or lower throttles, newest first: (excess left, cut)."""
    excess = d.supply - d.wanted
    cut = 0
    for a in sorted(arrays, key=lambda a: -a.submitted):
        if excess <= 0:
            break
        if not a.startable:
            continue
        if excess >= a.startable:
            d.cancel_pending.append(a.job_id)
            excess -= a.startable
            cut += a.startable
        elif limits.can_throttle:
            d.throttle[a.job_id] = a.running + a.startable - excess
            cut += excess
            excess = 0
    return excess, cut


def analyse(order: Sequence[str], states: Mapping[str, str], deps: Mapping[str, Sequence[str]],
            names: Mapping[str, str], typical: Callable[[str], float | None], budget: float,
            incomplete: bool = False,
            member: Callable[[str], bool] | None = None) -> TaskCounts:
    """Task counts with the dependency structure: soon-ready, blocked and too-long tasks.

    ``order`` lists task hashes dependencies first (a jugfile's creation order), ``states``
    maps each to waiting/ready/running/finished/failed/crashed, ``deps`` to the hashes it
    needs, ``names`` to its task name; ``typical(name)`` is a recorded run time or None.

    A waiting task is *soon ready* when its dependencies finish within one walltime
    (``budget``): estimated from recorded run times through chains of dependencies (how many
    tasks a worker gets through in a walltime), or, without recorded times, one level deep
    only (every dependency ready or running).  Soon-ready tasks are counted per level, since
    a level only runs once the one before it has finished.

    ``member(hash)`` restricts the counts to one worker pool's tasks (all tasks still carry
    the estimates): a member waiting on unfinished work of another pool is not soon ready,
    since that pool's freed workers cannot run it (its pool gets workers once it is ready).
    """
    n = dict.fromkeys(("ready", "waiting", "running", "finished", "failed", "crashed"), 0)
    walk = _Walk(states, budget, member)
    for h in order:
        st = states[h]
        mine = member is None or member(h)
        if mine:
            n[st] = n.get(st, 0) + 1
        secs = typical(names[h])
        if st == "finished":
            walk.done_at[h] = 0.0
        elif st in ("ready", "crashed", "running"):
            walk.startable(h, st, secs, mine)
        elif st == "waiting":
            walk.waiting(h, deps.get(h, ()), secs, mine)
    known = walk.known
    return TaskCounts(ready=n["ready"], waiting=n["waiting"], running=n["running"],
                      finished=n["finished"], failed=n["failed"], crashed=n["crashed"],
                      soon=sum(walk.per_level.values()),
                      soon_peak=max(walk.per_level.values(), default=0),
                      blocked=sum(1 for h in walk.blocked if member is None or member(h)),
                      too_long=walk.too_long,
                      task_seconds=sum(known) / len(known) if known else None,
                      incomplete=incomplete)


@dataclass
class _Walk:
    """What :func:`analyse` learns walking the tasks dependencies first."""

    states: Mapping[str, str]
    budget: float
    member: Callable[[str], bool] | None = None  # one pool's tasks only (None: all)
    blocked: set[str] = field(default_factory=set)
    done_at: dict[str, float | None] = field(default_factory=dict)  # s until finished (None: ?)
    level: dict[str, int] = field(default_factory=dict)  # 0: ready/running; k: soon, k-1 levels
    per_level: dict[int, int] = field(default_factory=dict)
    too_long: int = 0
    known: list[float] = field(default_factory=list)  # run times of the tasks that will run

    def startable(self, h: str, st: str, secs: float | None, mine: bool = True) -> None:
        """A ready, crashed or running task: level 0, unless no worker could start it."""
        if st != "running" and secs is not None and secs > self.budget:
            self.too_long += mine  # no worker can start it: nothing after it is soon
            return
        self.level[h] = 0
        self.done_at[h] = secs
        if st != "running" and secs is not None and mine:
            self.known.append(secs)

    def waiting(self, h: str, ds: Sequence[str], secs: float | None, mine: bool = True) -> None:
        """A waiting task: blocked, soon ready (at which level), or neither."""
        if any(self.states.get(d) == "failed" or d in self.blocked for d in ds):
            self.blocked.add(h)
            return
        pending = [d for d in ds if self.states.get(d) != "finished"]
        if any(d not in self.level for d in pending):
            return  # needs a task that is not going to run soon
        if mine and self.member is not None and not all(self.member(d) for d in pending):
            return  # waits on another pool's work
        depth = 1 + max((self.level[d] for d in pending), default=0)
        times = [self.done_at.get(d) for d in pending]
        if any(t is None for t in times):
            if depth > 1:
                return  # unknown run times: look one level deep only
            ready_at = max((t for t in times if t is not None), default=0.0)
            finish = None
        else:
            ready_at = max(times, default=0.0)  # type: ignore[type-var]
            finish = None if secs is None else ready_at + secs
        if ready_at > self.budget:
            return
        self.level[h] = depth
        self.done_at[h] = finish
        if mine:
            self.per_level[depth] = self.per_level.get(depth, 0) + 1
            if secs is not None:
                self.known.append(secs)
