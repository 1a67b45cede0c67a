"""The worker loop: what a ``jug execute`` process does (its options: :mod:`jug.commands.execute`).

Many workers (processes, machines, batch-array elements) share one store.  Each loads the
jugfile, reads the finished hashes once, and runs ready tasks in definition order (jumping
ahead when another worker holds the next one, so that workers spread out): take the
lock, check nobody finished it meanwhile, run, save, unlock.  A task whose dependencies are
held by other workers is postponed; when nothing can run the worker waits (checking the exit
conditions, e.g. a STOP file, all the while) and re-reads the store; a worker left only with
tasks that other workers hold leaves at once (:mod:`jug.engine.waiting`).  After the last task, a
jugfile that stopped at a barrier is loaded again, until every barrier is passed.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..backends import CorruptResult, Store, StoreError, UnsavedResult
from ..backends.owner import batch_job, current_owner, owner_summary
from ..hooks import exit_checks
from ..jugfile import JugfileError, Loaded, load, open_store, user_traceback
from ..state.attempts import retry_hint
from ..state.crashloop import LIMIT, forget, note_reclaim
from ..state.membership import selection
from ..state.shifts import ExitReason, ShiftLog, reason_of_worker
from ..state.taskstate import (
    base_dependencies,
    dead_locks,
    dependency_closure,
    match_tasks,
    unique_tasks,
)
from ..state.timings import Durations, TimingRecorder
from ..state.usage import Meter
from ..task import Task, TaskError
from .gcpause import building_graph
from .passorder import PassOrder
from .retries import Failure, Retrier, RetryPolicy
from .waiting import Leftovers, Poller, Verdict, WaitEnd

EXIT_FAILED = 1
EXIT_STORE_FAULT = 2
EXIT_TERMINATED = 143

#: signals received by this worker, and whether each was raised (not deferred): a task that
#: swallows one (``except BaseException``) finishes, but the worker takes no new task after it
_received: list[tuple[str, bool]] = []


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM (or SIGINT) arrives."""


class StoreFault(Exception):
    """The store failed (disk full, read-only, server gone): not the task's fault."""


#: True while a lock is being taken or released: a signal then waits for the next check
#: (it is recorded, and acted on before the next task), so that a signal never leaves a
#: lock without its owner's release.  Set and cleared around the two lock calls of each
#: task in :meth:`Worker._claim_and_run` (plain assignments: a context manager's two calls
#: there were a tenth of the worker's own time per tiny task).
_deferring: list[bool] = [False]

#: seconds within which the same signal again is only recorded, not raised: a forked worker
#: (``jug execute -j``) gets a scheduler's SIGTERM both directly and from its parent, and the
#: second copy must not interrupt the release the first one started (0: a single worker)
repeat_window: list[float] = [0.0]
_last_raised: dict[str, float] = {}


def _on_signal(signum: int, _frame: Any) -> None:
    name = signal.Signals(signum).name
    now = time.monotonic()
    repeat = now - _last_raised.get(name, -1e9) < repeat_window[0]
    _received.append((name, not _deferring[0] and not repeat))
    if not _deferring[0] and not repeat:
        _last_raised[name] = now
        raise Terminated(name)


def _stop_if_signalled(last_task: str | None) -> None:
    """Raise Terminated before taking a new task if a signal arrived (and was swallowed)."""
    if _received:
        name, raised = _received[0]
        raise Terminated(f"{name} (caught by task {last_task}, which finished)"
                         if raised and last_task else name)


class Outcome(Enum):
    """How running one locked task went."""

    OK = "ok"
    FAILED = "failed"
    DEPENDENCY_LOST = "dependency lost"  # a dependency's stored result was corrupt or gone
    RETRY = "retry"  # it failed, and runs again once its back-off ends (--retries)


@dataclass(frozen=True)
class RunOutcome:
    kind: Outcome
    lost: str | None = None  # with DEPENDENCY_LOST: that dependency's hash (it is recomputed)


_RAN = RunOutcome(Outcome.OK)  # the usual outcome, made once (frozen: safe to share)


class Step(Enum):
    """What one task's turn in a pass came to."""

    SKIPPED = "skipped"  # finished or failed already, blocked by a failed dependency, or too
    # long for the time left
    POSTPONED = "postponed"  # waits for its dependencies or for another worker's lock
    RAN = "ran"
    FAILED = "failed"  # it failed and --keep-going goes on
    RETRY = "retry"  # it failed, and is retried after its back-off (--retries)
    STOP = "stop"  # the worker stops (exit condition, or a failure without --keep-going)
    RESTART = "restart"  # a dependency must be recomputed: start over from every unfinished task


@dataclass
class _Known:
    """What this worker knows of the store during :meth:`Worker.run` (updated as it goes)."""

    finished: set[str]
    failed: set[str]
    deps: dict[str, list[str]]  # task hash -> hashes of its direct dependencies
    users: dict[str, int]  # result hash -> pending tasks that still need it in memory
    by_hash: dict[str, Task]


@dataclass
class _Pass:
    """One pass over the pending tasks: what it postponed and whether anything ran."""

    order: PassOrder
    postponed: list[Task] = field(default_factory=list)
    left: Leftovers = field(default_factory=Leftovers)
    progressed: bool = False


class _Heartbeat:
    """A daemon thread that refreshes the running task's lock every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.key: str | None = None
        self.also: Any = None  # called at each beat (flushes the run-time records)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            key = self.key
            if key is not None:
                try:
                    self.store.heartbeat(key)
                    if self.also is not None:
                        self.also()
                except Exception:
                    pass

    def set(self, key: str | None) -> None:
        self.key = key
        if key is not None and self._thread is None and self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="jug-heartbeat", daemon=True)
            self._thread.start()
            self.started = True

    #: the thread runs: the running task's key is then set directly, with no call per task
    started = False


class Worker:
    """Runs the tasks of one loaded jugfile against a store."""

    def __init__(self, store: Store, args: Any) -> None:
        self.store = store
        self.keep_going = bool(args.keep_going)
        self.aggressive_unload = bool(args.aggressive_unload)
        self.use_pdb = bool(args.pdb)
        self.debug = bool(args.debug)
        self.nr_wait_cycles = int(args.nr_wait_cycles)
        self.wait_cycle_time = float(args.wait_cycle_time)
        self.verify_sample = int(args.verify_sample)
        self.target = args.target
        self.only: list[str] = list(getattr(args, "only", None) or [])
        self.exclude: list[str] = list(getattr(args, "exclude", None) or [])
        self.elsewhere = False  # what is left waits on tasks this worker does not run
        self.heartbeat = _Heartbeat(store, float(args.heartbeat))
        self.stale_after = float(args.stale_after)
        self.reclaimed: list[str] = []
        self._durations: Durations | None = None  # read when a time limit first asks
        self.timings = TimingRecorder(store)
        self.meter = Meter()  # CPU time and peak memory of each task run
        self.heartbeat.also = self.timings.flush  # a long task does not hide earlier ones
        self.executed = 0
        self.executed_by_name: dict[str, int] = {}
        self.interrupted_task: str | None = None  # name of the task a signal cut short
        self.failed_here: list[str] = []
        self.stop_reason: str | None = None
        self.gave_up = False
        self.blocked: list[str] = []  # names of tasks that cannot run (failed dependencies)
        #: hash -> why: tasks skipped because they do not fit the time left (and tasks that
        #: need them); the worker runs what fits and leaves when only these are left
        self.no_time: dict[str, str] = {}
        self.started = time.time()  # the worker record's start, written once the jugfile loads
        self.session: ShiftLog | None = None  # this worker's shift record and log lines
        self.last_task: str | None = None  # the task run last (for signal messages)
        self.more_after_barrier = False  # the jugfile stopped at a barrier: more tasks follow
        self.left_to_others = 0  # tasks held by other workers when this one left
        self.passed_all = False  # it passed over every task: none it could run is left
        self.poller = Poller(self.wait_cycle_time)
        self.retrier = Retrier(RetryPolicy.from_args(args), store)
        self.last_ok: str | None = None  # the name of the last task run (a batching store
        # may still hold its result back)

    @property
    def durations(self) -> Durations:
        """The recorded run times (one read of the store, the first time a time limit asks
        whether a task still fits: a worker without one reads none of them)."""
        if self._durations is None:
            self._durations = Durations.from_store(self.store)
        return self._durations

    # -- selection -----------------------------------------------------------------
    def _select(self, tasks: list[Task]) -> list[Task]:
        tasks = unique_tasks(tasks)
        if self.target:
            chosen = match_tasks(tasks, self.target)
            if not chosen:
                raise TaskError(f"--target {self.target!r} matches no task; task names are: "
                                f"{', '.join(sorted({t.name for t in tasks}))}")
            tasks = dependency_closure(tasks, chosen)
        if self.only or self.exclude:
            keep = selection((t.name for t in tasks), self.only, self.exclude)
            tasks = [t for t in tasks if t.name in keep]
        return tasks

    def _waits_elsewhere(self, pending: list[Task], deps: dict[str, list[str]],
                         finished: set[str]) -> bool:
        """With --only/--exclude: every pending task waits, directly or not, on an
        unfinished task this worker does not run, so waiting here helps nobody."""
        if not (self.only or self.exclude):
            return False
        mine = {t.hash() for t in pending}
        stuck: set[str] = set()
        for t in pending:  # dependencies first
            h = t.hash()
            if any(d not in finished and (d not in mine or d in stuck) for d in deps[h]):
                stuck.add(h)
        return len(stuck) == len(mine)

    # -- the loop ------------------------------------------------------------------
    def run(self, tasks: list[Task]) -> None:
        """Run every task of ``tasks`` that this worker can; returns when none is left.

        Passes over the pending tasks run what is ready; between passes the worker re-reads
        the store and reclaims dead locks, leaves, or waits (:meth:`_after_pass`)."""
        self.retrier.know(t.name for t in tasks)
        tasks = self._select(tasks)
        # the live run-time estimates serve only a time limit (whether a task still fits)
        self.timings.durations = self.durations if exit_checks.time_left() is not None else None
        known = self._known(tasks)
        pending = [t for t in tasks if t.hash() not in known.finished]
        idle_cycles: int | None = 0
        while pending:
            turn = _Pass(PassOrder(pending, known_finished=len(known.finished)))
            end = self._one_pass(turn, known)
            if end is Step.STOP:
                return
            if end is Step.RESTART:
                pending = [t for t in tasks if t.hash() not in known.finished]
                continue
            pending = turn.postponed
            if not pending:
                break
            idle_cycles = self._after_pass(turn, pending, known, idle_cycles or 0)
            if idle_cycles is None:
                break
        # tasks skipped for time are the reason to leave, before "what is left waits on other
        # workers": a fresh worker (a budget hand-over) can run them
        if self.no_time and not self.stop_reason:
            first = next(iter(self.no_time.values()))
            more = len(self.no_time) - 1
            self.stop_reason = first + (f"; {more} more task(s) left undone" if more else "")

    def _known(self, tasks: list[Task]) -> _Known:
        """One read of the store (with a sample's integrity check) and the dependency counts."""
        store = self.store
        finished = set(store.list())
        self._verify(tasks, finished)
        failed = set(store.list_failed())
        self.retrier.refresh()
        hashes = [t.hash() for t in tasks]
        deps = {h: [d.hash() for d in base_dependencies(t)] for h, t in zip(hashes, tasks)}
        if self.session:
            self.session.track(hashes, finished)
        # how many pending tasks still need each result: unload it from memory at zero
        users: dict[str, int] = {}
        for h in hashes:
            if h not in finished:
                for d in deps[h]:
                    users[d] = users.get(d, 0) + 1
        return _Known(finished, failed, deps, users, dict(zip(hashes, tasks)))

    def _one_pass(self, turn: _Pass, known: _Known) -> Step | None:
        """Give each pending task its turn; STOP or RESTART end the pass early."""
        for t in turn.order:
            step = self._turn(t, turn, known)
            if step is Step.STOP or step is Step.RESTART:
                return step
        return None

    def _turn(self, t: Task, turn: _Pass, known: _Known) -> Step:
        """Skip, postpone or run one task."""
        h = t.hash()
        if h in known.finished or h in known.failed or h in self.no_time:
            return Step.SKIPPED
        tdeps = known.deps[h]
        if tdeps and not all(d in known.finished for d in tdeps):
            if any(d in self.no_time for d in tdeps):  # needs a task skipped for time
                self.no_time[h] = self.no_time[next(d for d in tdeps if d in self.no_time)]
                return Step.SKIPPED
            if any(d in known.failed for d in tdeps):
                known.failed.add(h)  # cannot ever run here: a dependency failed
                self.blocked.append(t.name)
                return Step.SKIPPED
            turn.postponed.append(t)
            turn.left.waiting += 1
            return Step.POSTPONED
        if self.retrier.not_before and self.retrier.backing_off(h):
            turn.postponed.append(t)
            turn.left.backoff += 1
            return Step.POSTPONED
        if _received:
            _stop_if_signalled(self.last_task)
        if exit_checks.armed():  # no check and no time limit: nothing to ask per task
            reason = exit_checks.should_exit()
            if reason:
                self.stop_reason = reason
                return Step.STOP
            late = self._no_time_for(t)
            if late:  # skip it, run what fits (the next pass re-reads without waiting)
                self.no_time[h] = late
                turn.progressed = True
                return Step.SKIPPED
        got = self._claim_and_run(t, h, turn, known)
        if isinstance(got, Step):
            return got
        return self._settle(t, h, got, turn, known)

    def _claim_and_run(self, t: Task, h: str, turn: _Pass, known: _Known) -> Step | RunOutcome:
        """Take the lock of ``t`` and run it unless another worker finished or failed it."""
        _deferring[0] = True  # signals wait: a lock is never taken without its release below
        try:
            claim = self.store.claim(h)
        finally:
            _deferring[0] = False
        if not claim.locked:
            turn.postponed.append(t)
            turn.left.held.append(h)
            turn.order.collided()
            return Step.POSTPONED
        try:
            if _received:
                _stop_if_signalled(self.last_task)
            if claim.done:
                known.finished.add(h)
                if turn.order.found_finished():  # our listing is stale: read it again
                    known.finished.update(self.store.list())
                return Step.SKIPPED
            if claim.failed:
                known.failed.add(h)
                return Step.SKIPPED
            return self._run_one(t, h)
        finally:
            _deferring[0] = True
            try:
                self.heartbeat.key = None
                _unlock(self.store, h)
            finally:
                _deferring[0] = False

    def _settle(self, t: Task, h: str, got: RunOutcome, turn: _Pass, known: _Known) -> Step:
        """Record what running ``t`` came to."""
        if got.kind is Outcome.OK:
            self.last_ok = t.name
            known.finished.add(h)
            turn.progressed = True
            self._release(t, h, known.deps[h], known.users, known.by_hash)
            return Step.RAN
        if got.kind is Outcome.FAILED:
            known.failed.add(h)
            turn.progressed = True
            return Step.FAILED if self.keep_going else Step.STOP
        if got.kind is Outcome.RETRY:
            turn.postponed.append(t)
            turn.left.backoff += 1
            turn.progressed = True
            return Step.RETRY
        known.finished.discard(got.lost or "")  # a dependency's result is gone: recompute it
        return Step.RESTART

    def _after_pass(self, turn: _Pass, pending: list[Task], known: _Known,
                    idle_cycles: int) -> int | None:
        """Others hold what we need: re-read the store; wait if nothing moved.

        Returns the count of wait cycles without progress, or None when the worker leaves."""
        fresh = set(self.store.list())
        new = fresh - known.finished
        known.finished |= fresh
        known.failed |= set(self.store.list_failed())
        self.retrier.refresh()  # other workers' failed attempts (only with --retries)
        if turn.progressed or new:
            self.poller.reset()
            return 0
        if self._reclaim_dead_locks(pending):
            return idle_cycles
        if turn.left.verdict(self.more_after_barrier) is Verdict.EXIT:
            self.left_to_others = len(turn.left.held)
            return None
        if self._waits_elsewhere(pending, known.deps, known.finished):  # --only/--exclude, pools
            self.elsewhere = True
            return None
        backoff = turn.left.backoff  # a back-off is no wait for others: never given up on
        if idle_cycles >= self.nr_wait_cycles and not backoff:
            self.gave_up = True
            return None
        end = self._idle_wait(turn.left.held, self.retrier.seconds_left() if backoff else None)
        if end is WaitEnd.STOP:
            return None
        return idle_cycles + 1 if end is WaitEnd.TIMEOUT and not backoff else idle_cycles

    def _reclaim_dead_locks(self, pending: list[Task]) -> bool:
        """Release locks of pending tasks whose owner is provably dead; True if any was."""
        locks = self.store.list_locks()
        if not locks:
            return False
        mine = {t.hash(): t for t in pending}
        candidates = {h: o for h, o in locks.items() if h in mine}
        dead = dead_locks(candidates, self.stale_after)
        fates = _fates({h: candidates[h] for h in dead}) if dead else {}
        done = False
        for h, reason in dead.items():
            if self.store.reclaim(h, candidates[h]):
                _note_reclaim(self.store, h, mine[h].name, candidates[h], reason, fates.get(h))
                self.reclaimed.append(h)
                done = True
        return done

    def _no_time_for(self, t: Task) -> str | None:
        """A reason not to start ``t``: its typical run time exceeds the time this worker has left."""
        left = exit_checks.time_left()
        if left is None:
            return None
        typical = self.durations.typical(t.name)
        if typical is not None and typical > left:
            return (f"not enough time left for {t.name} (typically {typical:.1f}s, "
                    f"{left:.1f}s left)")
        return None

    def _idle_wait(self, held: list[str], limit: float | None = None) -> WaitEnd:
        """Wait (up to one cycle, or ``limit`` seconds) for another worker to release a lock
        in ``held``."""
        if self.session:
            self.session.idle(True)
        end, reason = self.poller.wait(self.store, set(held), exit_checks.should_exit, limit)
        if self.session:
            self.session.idle(False)
        if reason:
            self.stop_reason = reason
        return end

    def _verify(self, tasks: list[Task], finished: set[str]) -> None:
        """Check a random sample of the finished results (:mod:`jug.state.integrity`: not
        one open per result at every start); the corrupt ones are removed and rerun."""
        from ..state.integrity import check_sample

        found = check_sample(self.store, tasks, finished, self.verify_sample)
        for d in found.damaged:
            print(f"jug: stored result of task {d.task} is corrupt ({d.reason}) at {d.where}; "
                  "it is removed and will be recomputed", file=sys.stderr, flush=True)
            self.store.remove(d.key)
            finished.discard(d.key)
        finished.difference_update(found.gone)

    def _release(self, t: Task, h: str, tdeps: list[str], users: dict[str, int],
                 by_hash: dict[str, Task]) -> None:
        """Unload results no pending task needs any more (memory stays flat)."""
        if self.aggressive_unload or users.get(h, 0) == 0:
            t.unload()
        for d in tdeps:
            n = users.get(d, 0) - 1
            users[d] = n
            if n <= 0 or self.aggressive_unload:
                dt = by_hash.get(d)
                if dt is not None:
                    dt.unload()

    def _run_one(self, t: Task, h: str) -> RunOutcome:
        """Run one locked task and say how it went (a lost dependency is recomputed first)."""
        beat = self.heartbeat
        if beat.started:
            beat.key = h
        else:
            beat.set(h)
        self.last_task = t.name
        metered = self.timings.wants_meter(t.name)  # tiny tasks: once in a while
        if metered:
            self.meter.start()
        start = time.perf_counter()
        try:
            t.run(True, True, self.debug)  # force, save, debug mode
        except Terminated:
            self.interrupted_task = t.name
            raise
        except CorruptResult as e:
            bad = e.key
            dep = next((d for d in base_dependencies(t) if d.hash() == bad), None)
            _report_corrupt(dep.name if dep else "?", e)
            self.store.remove(bad)
            if dep is not None:
                dep.unload()
            return RunOutcome(Outcome.DEPENDENCY_LOST, bad)
        except StoreError as e:
            raise StoreFault(f"store fault while running task {t.name}: {e}; the task is "
                             "not marked failed and runs again once the store works") from None
        except (Exception, TaskError, SystemExit) as e:
            lost = _lost_dependency(self.store, t)
            if lost is not None:
                return RunOutcome(Outcome.DEPENDENCY_LOST, lost)
            return self._after_failure(t, h, e, time.perf_counter() - start)
        elapsed = time.perf_counter() - start
        usage = self.meter.stop(elapsed) if metered else None
        if h in self.reclaimed:  # it finished after all: its crash count starts again
            forget(self.store, [h])
        self.executed += 1
        self.executed_by_name[t.name] = self.executed_by_name.get(t.name, 0) + 1
        self.timings.add(t.name, elapsed, usage)  # and into self.durations if a limit asks
        exit_checks.task_finished(t)
        if self.session:
            self.session.task_done(t.name, elapsed)
        return _RAN

    def _after_failure(self, t: Task, h: str, e: BaseException, elapsed: float) -> RunOutcome:
        """A failed attempt (lock held): retried after its back-off if ``--retries`` covers
        it, else the task is marked failed."""
        failure = (Failure(False) if _is_pickling_error(e)
                   else self.retrier.on_failure(t.name, h, e, owner_summary(current_owner())))
        if self.session:
            self.session.task_done(t.name, elapsed, ok=False, retry=failure.retry)
        if failure.retry and failure.attempts is not None:
            wait = max(0.0, failure.attempts.retry_after - time.time())
            print(f"jug: task {t.name} ({h}) failed after {elapsed:.3f}s (attempt "
                  f"{failure.attempts.failed} of {failure.allowed}; the next in {wait:.1f}s "
                  f"or later):\n{user_traceback(e)}", file=sys.stderr, flush=True)
            return RunOutcome(Outcome.RETRY)
        self._failed(t, h, e, elapsed, failure)
        return RunOutcome(Outcome.FAILED)

    def _failed(self, t: Task, h: str, e: BaseException, elapsed: float,
                failure: Failure) -> None:
        import traceback  # start-up time (3.6 ms): only when a task failed

        tb = traceback.format_exc()  # whole, in the failure mark; the user's frames on screen
        mine = user_traceback(e)
        attempts = failure.attempts.failed if failure.attempts else None
        if _is_pickling_error(e):
            msg = (f"jug: task {t.name} ({h}) returned a value that cannot be saved "
                   f"(not picklable): {e!r}. Return plain data (numbers, lists, dicts, numpy "
                   "arrays) or objects of classes defined at module level.")
        elif attempts:
            msg = f"jug: task {t.name} ({h}) failed after {attempts} attempts (the last took " \
                  f"{elapsed:.3f}s):"
        else:
            msg = f"jug: task {t.name} ({h}) failed after {elapsed:.3f}s:"
        print(f"{msg}\n{mine}", file=sys.stderr, flush=True)
        if self.use_pdb:
            import pdb  # start-up time: only with --pdb

            pdb.post_mortem(sys.exc_info()[2])

        info = {"task": t.name, "error": repr(e), "traceback": tb, "user_traceback": mine,
                "call": _call_text(t), "time": time.time(), "owner": current_owner()}
        if attempts:
            info["attempts"] = attempts
        self.store.fail(h, info)
        self.failed_here.append(t.name)


def _call_text(t: Task) -> str:
    """The failed task's call with abbreviated arguments (``jugfile.f(7, n=3)``): what
    ``jug status --traceback`` shows above the traceback."""
    try:
        return t.call_repr()
    except Exception as e:  # a user __repr__ that raises must not hide the failure
        return f"{t.name}(...) (arguments not shown: {type(e).__name__})"


def _is_pickling_error(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, pickle.PicklingError) or (
        isinstance(e, (TypeError, AttributeError)) and ("pickle" in text or "Can't get local" in text))


def _fates(owners: dict[str, dict]) -> dict:
    """Why the owners of these dead locks died (one scheduler query for all of them)."""
    from ..state.deaths import fates_of  # start-up time: adapters only once a lock is dead

    try:
        return fates_of(owners)
    except Exception:  # accounting is advice: never a reason to stop working
        return {}


def _note_reclaim(store: Store, h: str, name: str, owner: dict, reason: str,
                  fate: Any = None) -> None:
    """Say that a dead worker's lock was reclaimed and why it died; count it (crash loops
    get marked failed) unless the death was not the task's doing."""
    counted = note_reclaim(store, h, name, owner, reason, fate)
    why = f"{reason}; the scheduler says: {fate.describe()}" if fate is not None else reason
    if not counted.counted:
        extra = " (not the task's doing: not counted towards a crash loop)"
    elif counted.failed:
        extra = f"; its worker died {counted.count} times: marked failed (crash loop)"
    else:
        extra = f" (reclaim {counted.count} of at most {LIMIT})"
    print(f"jug: reclaimed the lock of task {name} ({h[:12]}): {why}{extra}",
          file=sys.stderr, flush=True)


def _lost_dependency(store: Store, t: Task) -> str | None:
    """The hash of a dependency of ``t`` whose stored result vanished (a store that lost data,
    e.g. Redis restarted without persistence), or None: then ``t`` itself failed."""
    for d in base_dependencies(t):
        if not d.is_loaded() and not store.exists(d.hash()):
            print(f"jug: the stored result of task {d.name} ({d.hash()[:12]}), needed by "
                  f"{t.name}, is gone from {store.description} (did the store lose data?); "
                  "it will be recomputed", file=sys.stderr, flush=True)
            return d.hash()
    return None


def _report_corrupt(name: str, e: CorruptResult) -> None:
    print(f"jug: stored result of task {name} is corrupt ({e.reason}) at {e.where}; "
          "it is removed and will be recomputed", file=sys.stderr, flush=True)


def execute(args: Any, preloaded: Loaded | None = None) -> int:
    """Run a worker: load, run, reload past barriers; the exit code says how it ended.

    ``args`` holds the options of ``jug execute`` (:mod:`jug.commands.execute`);
    ``preloaded``: the jugfile as a parent loaded it before forking this worker (its first
    load is skipped; the store is opened here, after the fork)."""
    try:
        store = open_store(args.jugfile, args.jugdir)
        if preloaded is not None:
            preloaded.store = Task.store = store
    except StoreError as e:
        print(f"jug: {e}", file=sys.stderr)
        return 2
    if preloaded is None and not start_exit_checks():
        return 2
    old_handlers = _handle_signals()
    worker = Worker(store, args)
    why: tuple[ExitReason, str] = (ExitReason.ERROR, "")
    store.batching = True  # one round trip per task where the store supports it
    try:
        code = _execute(worker, store, args, preloaded)
        why = reason_of_worker(worker, code)
        _hand_over(store, args, (handover_reason(why[0], worker.passed_all), why[1]))
        return code
    except KeyboardInterrupt:
        why = (ExitReason.SIGNAL, "SIGINT")
        raise
    except (Terminated, StoreFault, StoreError, JugfileError, TaskError) as e:
        code, why = _stopped_by(e, worker)
        return code
    finally:
        _wind_down(store, worker, args, why)
        for sig, old in old_handlers.items():
            signal.signal(sig, old)


def start_exit_checks() -> bool:
    """A fresh worker's exit checks: the budget of ``JUG_MAX_*`` (False: a bad value, said).
    ``jug execute -j`` calls it once in the parent, before the jugfile (which may add its
    own) is loaded, so every forked worker inherits the same checks and deadlines."""
    exit_checks.reset()
    try:
        exit_checks.exit_env_vars()
    except ValueError as e:
        print(f"jug: {e}", file=sys.stderr)
        return False
    return True


def handover_reason(why: ExitReason, passed_all: bool) -> ExitReason:
    """What a chain hears of a worker leaving for ``why``: one that passed over every task
    (``passed_all``, as ``--keep-going`` does) and left only failed tasks and tasks that need
    them has nothing it could run left, so it hands over like a worker with no work left
    (its own record keeps ``task failed`` / ``blocked``)."""
    if passed_all and why in (ExitReason.TASK_FAILED, ExitReason.BLOCKED):
        return ExitReason.NO_WORK
    return why


def _hand_over(store: Store, args: Any, why: tuple[ExitReason, str]) -> None:
    """``--until-done``: a worker of a chain leaving because its budget is spent (with
    pools also: with no work left it could run) plans the next workers (jug.hpc.chain)."""
    if why[0] in (ExitReason.BUDGET, ExitReason.NO_WORK) and batch_job() is not None:
        # start-up time: outside a batch job there is no chain to plan for, so a laptop
        # worker never imports the HPC toolkit (a fifth of its start-up)
        from ..hpc.chain.handover import hand_over

        hand_over(store, args.jugfile, why[0], why[1])


def _handle_signals() -> dict:
    """SIGTERM (walltime, scancel), and SGE's SIGUSR1/SIGUSR2 (soft walltime, qdel -notify):
    release the running task's lock and stop.  Returns the handlers to put back."""
    _received.clear()
    _deferring[0] = False
    return {sig: signal.signal(sig, _on_signal)
            for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}


def _stopped_by(e: BaseException, worker: Worker) -> tuple[int, tuple[ExitReason, str]]:
    """Say why the worker stopped early; its exit code and the reason its record keeps."""
    if isinstance(e, Terminated):
        what = (f"released the lock of the running task {worker.interrupted_task}"
                if worker.interrupted_task else "took no new task")
        print(f"jug: received {e}; {what} and stopped", file=sys.stderr)
        return EXIT_TERMINATED, (ExitReason.SIGNAL, str(e))
    if isinstance(e, UnsavedResult):  # the result a batching store held back could not be saved
        print(f"jug: cannot save the result of task {worker.last_ok}: {e.reason}", file=sys.stderr)
        return EXIT_STORE_FAULT, (ExitReason.ERROR,
                                  f"cannot save the result of task {worker.last_ok}")
    print(f"jug: {e}", file=sys.stderr)
    first_line = (str(e).splitlines() or [""])[0]
    code = EXIT_STORE_FAULT if isinstance(e, (StoreFault, StoreError)) else 1
    return code, (ExitReason.ERROR, first_line)


def _wind_down(store: Store, worker: Worker, args: Any, why: tuple[ExitReason, str]) -> None:
    """Whatever stopped the worker: send what is kept back, close its record (and fold the
    records of the workers that left into their summaries), print the table."""
    _flush(store, worker)
    _flush_timings(worker)
    if worker.session is not None:
        worker.session.close(*why)
        from ..state.compaction import compact

        compact(store)
    if worker.executed:
        from ..io import print_task_summary_table  # start-up time: jug.io loads jug.utils

        print_task_summary_table(args, [("Executed", worker.executed_by_name)])


def _unlock(store: Store, h: str) -> None:
    """Release the lock of ``h``.  If the store fails here while an error is already on its
    way out (the store fault that stopped the task), that first error is the one reported."""
    try:
        store.unlock(h)
    except StoreError as e:
        if e.__context__ is None:  # nothing else on its way out: this is the error
            raise


def _flush_timings(worker: Worker) -> None:
    """Save recorded run times; a store that fails now was reported already (or will be)."""
    try:
        worker.timings.flush(final=True)
    except StoreError as e:
        print(f"jug: could not save run times: {e}", file=sys.stderr)
def _flush(store: Store, worker: Worker) -> None:
    """Send the last result a batching store kept back, whatever stops the worker."""
    try:
        store.flush()
    except StoreError as e:
        reason = e.reason if isinstance(e, UnsavedResult) else str(e)
        print(f"jug: cannot save the result of task {worker.last_ok}: {reason}", file=sys.stderr)


def _execute(worker: Worker, store: Store, args: Any, preloaded: Loaded | None = None) -> int:
    previous: tuple | None = None
    first = True
    mark = exit_checks.checkpoint()
    store.prefetch()  # a large store is listed while the jugfile loads
    while True:
        if first and preloaded is not None:
            loaded = preloaded
        else:
            with building_graph():
                loaded = load(args.jugfile, store, getattr(args, "jugfile_args", None))
        if first:  # checks a jugfile registers count once, not again at each reload
            mark = exit_checks.checkpoint()
            first = False
            worker.session = ShiftLog.start(store, args.jugfile, worker.timings.name,
                                                 verbose=args.verbose in ("info", "debug"),
                                                 started=worker.started,
                                                 pool=getattr(args, "pool", None))
        else:
            exit_checks.rollback(mark)
        worker.more_after_barrier = bool(loaded.incomplete)
        worker.run(loaded.tasks)
        _stop_if_signalled(worker.last_task)
        store.flush()  # the last result a batching store kept back
        code = _left_early(worker)
        if code is not None:
            return code
        if not loaded.incomplete:
            break
        key = tuple(t.hash() for t in loaded.tasks)
        if key == previous:
            # The barrier cannot be passed (its tasks failed or cannot run).
            print("jug: stopped at a barrier whose tasks cannot all finish", file=sys.stderr)
            return EXIT_FAILED
        previous = key
    worker.passed_all = True
    return _final_code(worker, store, loaded.tasks, args.jugfile)


def _left_early(worker: Worker) -> int | None:
    """The exit code when the worker stopped before its tasks were all done (None: it did
    not stop early), saying why on stderr."""
    if worker.stop_reason:
        print(f"jug: stopping: {worker.stop_reason} ({worker.executed} tasks executed)",
              file=sys.stderr)
        return 0
    if worker.failed_here and not worker.keep_going:
        return EXIT_FAILED
    if worker.elsewhere:
        print("jug: leaving: the tasks left for this worker (--only/--exclude) wait on "
              f"tasks other workers run ({worker.executed} tasks executed)", file=sys.stderr)
        return EXIT_FAILED if worker.failed_here else 0
    if worker.gave_up:
        print("jug: gave up waiting for other workers to finish the tasks this one needs "
              f"(after {worker.nr_wait_cycles} wait cycles of {worker.wait_cycle_time:g}s)",
              file=sys.stderr)
        return EXIT_FAILED if worker.failed_here else 0
    return None


def _final_code(worker: Worker, store: Store, tasks: list[Task], jugfile: str) -> int:
    """The exit code once every task was passed over: non-zero when any failed or is blocked."""
    failed_total = set(store.list_failed())
    if worker.failed_here:
        print(f"jug: {len(worker.failed_here)} task(s) failed: "
              f"{', '.join(sorted(set(worker.failed_here)))}; see 'jug status'; "
              f"{retry_hint(os.path.abspath(jugfile))}", file=sys.stderr)
        return EXIT_FAILED
    if worker.blocked or failed_total & {t.hash() for t in tasks}:
        print("jug: some tasks failed in an earlier run and block others; see 'jug status'; "
              f"{retry_hint(os.path.abspath(jugfile))}", file=sys.stderr)
        return EXIT_FAILED
    return 0
