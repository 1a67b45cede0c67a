"""``jug submit --watch``: the login-node loop keeping as many workers alive as the work can use.

Each poll reads the recorded arrays (state documents of :mod:`jug.hpc.job`), makes
ONE queue query for all of them, reads the task states in bulk (the jugfile is loaded once,
again after barriers), reclaims the locks of workers that are provably dead, asks the pure
:func:`jug.hpc.sizing.decide` what to do, does it and prints one line.  Order
matters: arrays are read before the queue and the queue before the locks, so a worker whose
array the loop knows always shows in the queue listing it judges the lock by.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..backends import StoreError
from ..backends.owner import BatchJob, current_owner
from ..jugfile import load
from ..schedulers.base import RUNNING, ArrayCounts, CommandFailed, QueueEntry, SchedulerError, tally
from ..state.crashloop import note_reclaim
from ..state.deaths import fates_of
from ..state.locks import owner_is_alive, owner_is_dead
from ..state.taskstate import (
    STATES,
    Snapshot,
    base_dependencies,
    classify,
    format_duration,
    unique_tasks,
)
from ..state.timings import Durations, eta_seconds
from ..status.progress import counts_text
from . import sizing
from .job import STATE_NAMESPACE, JobPlan, state_name, submitted_arrays
from .settings import LOOP_DEFAULTS

#: longest pause between polls after repeated scheduler errors (seconds)
MAX_BACKOFF = 900.0
#: store namespace of the "this jugfile is being watched" records (one loop per jugfile)
WATCH_NAMESPACE = "watch"


@dataclass
class WatchOptions:
    """The loop's knobs (``--max-workers``, ``--max-queued``, ``--poll``, ``--once``...)."""

    max_workers: int
    max_queued: int | None = None
    poll: float = LOOP_DEFAULTS["poll"]
    once: bool = False
    stale_after: float = LOOP_DEFAULTS["stale_after"]
    max_backoff: float = MAX_BACKOFF


@dataclass
class PollResult:
    """What one poll saw and decided (kept for the Ctrl-C message and for tests)."""

    counts: sizing.TaskCounts
    arrays: list[sizing.ArrayState]
    decision: sizing.Decision
    reclaimed: int = 0
    line: str = ""


def owner_key(owner: Any) -> tuple[str, str, str | None] | None:
    """(scheduler, array short id, index) of a lock owner's batch job, None outside a batch job."""
    job = BatchJob.of(owner)
    head = job.array_head if job else None
    if job is None or head is None:
        return None
    return job.scheduler, head, job.array_task_id


class Watcher:
    """The resubmit loop for one jugfile and store (see the module docstring)."""

    def __init__(self, plan: JobPlan, store: Any, opts: WatchOptions,
                 echo: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.plan = plan
        self.sched = plan.scheduler
        self.store = store
        self.opts = opts
        self.echo = echo or (lambda s: print(s, flush=True))
        self.sleep = sleep
        self.loaded: Any = None
        self.tasks: list = []
        self.deps: dict[str, list[str]] = {}
        self.names: dict[str, str] = {}
        self.order: list[str] = []
        self.last: PollResult | None = None
        self.queue_errors = 0
        self.last_queue_error = ""
        self.submit_retry_at = 0.0
        self.submit_failures = 0
        self.last_reject = ""
        self.drain_announced = False
        self.idle: dict[str, list[int]] = {}  # array -> running elements holding no lock
        self.rejected = False  # the scheduler rejected this poll's submission
        self.reject_error: SchedulerError | None = None  # ... with this error
        self.submitted: list[dict] = []  # the records of the arrays this watcher submitted
        self.eta: float | None = None  # seconds left at the current number of running workers
        try:
            self.max_array_size = self.sched.max_array_size()
        except SchedulerError:
            self.max_array_size = None

    # -- reading ----------------------------------------------------------------------
    def _load(self) -> None:
        """Load the jugfile in this process (first poll, and after a barrier on later ones)."""
        self.loaded = load(self.plan.jugfile, self.store, self.plan.jugfile_args)
        self.tasks = unique_tasks(self.loaded.tasks)
        self.order = [t.hash() for t in self.tasks]
        self.deps = {t.hash(): [d.hash() for d in base_dependencies(t)] for t in self.tasks}
        self.names = {t.hash(): t.name for t in self.tasks}

    def member(self) -> Callable[[str], bool] | None:
        """Which task hashes this loop sizes workers for (None: all; a pool: its own)."""
        return None

    def _arrays(self) -> dict[str, dict]:
        """The recorded arrays of this jugfile on this scheduler, by state document name."""
        return {k: d for k, d in submitted_arrays(self.store, self.plan.jugfile).items()
                if d.get("scheduler") == self.sched.name}

    def _queue(self) -> list[QueueEntry]:
        """ONE queue query for every array of this user."""
        return self.sched.queue()

    def _dead_locks(self, snap: Snapshot, entries: list[QueueEntry],
                    known: set[str]) -> dict[str, str]:
        """``{hash: reason}`` for locks whose owner is provably dead (never a live worker's).

        The queue is consulted only for owners in arrays this store recorded on this
        scheduler; any other owner (another tool, user or cluster) is judged by its host/pid
        and heartbeat alone.
        """
        listed: set[tuple[str, str | None]] = set()
        whole: set[str] = set()
        for e in entries:
            if e.indices is None:
                whole.add(e.array_id)
            else:
                listed.update((e.array_id, str(i)) for i in e.indices)
        now = time.time()
        out = {}
        for h, owner in snap.locks.items():
            if h not in self.names:
                continue  # not a task of this jugfile
            key = owner_key(owner)
            live_ids: set | None = None
            if key is not None and key[0] == self.sched.name and key[1] in known:
                alive = key[1] in whole or (key[1], key[2]) in listed
                live_ids = set(BatchJob.of(owner).ids) if alive else set()  # type: ignore[union-attr]
            reason = owner_is_dead(owner, now, self.opts.stale_after, live_ids)
            if reason:
                out[h] = reason
        return out

    # -- one poll ---------------------------------------------------------------------
    def poll(self) -> PollResult:
        """Read, reclaim, decide, act; print one line.  Raises SchedulerError on queue errors."""
        if self.loaded is None or self.loaded.incomplete:
            self._load()
        self._beat()
        docs = self._arrays()
        known = {self.sched.short_id(d["job_id"]) for d in
                 self.store.read_docs(STATE_NAMESPACE).values()
                 if d.get("scheduler") == self.sched.name}
        entries = self._queue()
        counts = tally(entries, [d["job_id"] for d in docs.values()], self.sched.short_id)
        snap = Snapshot(self.store)
        dead = self._dead_locks(snap, entries, known)
        reclaimed = self._reclaim(dead, snap)
        states = classify(self.tasks, snap, dead)
        durations = Durations.from_store(self.store)
        budget = float(self.plan.budget)
        tc = sizing.analyse(self.order, states, self.deps, self.names, durations.typical,
                            budget, bool(self.loaded.incomplete), member=self.member())
        tc, arrays = self._adjust(tc, self._array_states(docs, counts, snap), snap)
        limits = sizing.Limits(max_workers=self.opts.max_workers,
                               max_queued=self.opts.max_queued,
                               max_array_size=self.max_array_size,
                               can_throttle=self.sched.supports_throttle,
                               draining=os.path.exists(self.plan.stop_file),
                               per_job=self.plan.per_job,
                               min_per_job=self.plan.settings.get("min_workers_per_job"))
        decision = sizing.decide(tc, arrays, budget, limits)
        self.eta = self._eta(states, durations, arrays)
        note = self._act(decision, docs, counts)
        result = PollResult(tc, arrays, decision, reclaimed)
        result.line = self._line(tc, arrays, decision, note)
        self.echo(result.line)
        self.last = result
        return result

    def _reclaim(self, dead: dict[str, str], snap: Snapshot) -> int:
        """Reclaim the locks of dead workers (counted: crash loops get marked failed)."""
        reclaimed = 0
        fates = fates_of({h: snap.locks[h] for h in dead}) if dead else {}  # one query
        for h, reason in dead.items():
            if self.store.reclaim(h, snap.locks[h]):
                reclaimed += 1
                fate = fates.get(h)
                got = note_reclaim(self.store, h, self.names[h], snap.locks[h], reason, fate)
                why = f"{reason}; the scheduler says: {fate.describe()}" if fate else reason
                self.echo(f"reclaimed the lock of task {self.names[h]} ({h[:12]}): {why}"
                          + ("; marked failed (crash loop)" if got.failed else "")
                          + ("" if got.counted else " (not counted towards a crash loop)"))
        return reclaimed

    def _array_states(self, docs: dict[str, dict], counts: dict[str, ArrayCounts],
                      snap: Snapshot) -> list[sizing.ArrayState]:
        """The live recorded arrays as the queue shows them; notes their idle elements."""
        busy = {k[1:] for o in snap.locks.values() if (k := owner_key(o)) is not None
                and k[0] == self.sched.name}
        self.idle = {}
        for d in docs.values():
            jid = d["job_id"]
            short = self.sched.short_id(jid)
            self.idle[jid] = [i for e in counts[jid].entries if e.state == RUNNING
                              for i in (e.indices or []) if (short, str(i)) not in busy]
        return [sizing.ArrayState(d["job_id"], counts[d["job_id"]].pending,
                                  counts[d["job_id"]].running, d.get("throttle"),
                                  float(d.get("submitted") or 0), len(self.idle[d["job_id"]]))
                for d in docs.values() if counts[d["job_id"]].alive]

    def _eta(self, states: dict[str, str], durations: Durations,
             arrays: list[sizing.ArrayState]) -> float | None:
        """Seconds left at the current number of running workers (None: nothing left)."""
        remaining: dict[str, int] = {}
        for h, st in states.items():
            if st in ("waiting", "ready", "running", "crashed"):
                remaining[self.names[h]] = remaining.get(self.names[h], 0) + 1
        if not remaining:
            return None
        return eta_seconds(remaining, durations, max(sum(a.running for a in arrays), 1))

    def _adjust(self, tc: sizing.TaskCounts, arrays: list[sizing.ArrayState],
                snap: Snapshot) -> tuple[sizing.TaskCounts, list[sizing.ArrayState]]:
        """What the decision sees (hook: ``--until-done`` discounts workers about to leave)."""
        return tc, arrays

    def _act(self, d: sizing.Decision, docs: dict[str, dict],
             counts: dict[str, ArrayCounts]) -> str:
        """Carry out the decision; returns a note for the poll line (e.g. a postponed submit)."""
        by_id = {doc["job_id"]: (name, doc) for name, doc in docs.items()}
        notes = []
        for jid in d.cancel_pending:
            try:
                self.sched.cancel_pending(jid, counts[jid])
            except SchedulerError as e:
                notes.append(f"cancel of pending elements of {jid} failed: {e}")
        for jid, n in d.cancel_idle.items():
            victims = sorted(self.idle.get(jid, []))[-n:]
            try:
                self.sched.cancel_elements(jid, victims)
                names = ", ".join(self.sched.element_id(jid, i) for i in victims)
                notes.append(f"stopped idle worker(s) {names}")
            except SchedulerError as e:
                notes.append(f"stopping idle workers of {jid} failed: {e}")
        for jid, limit in d.throttle.items():
            try:
                if self.sched.set_throttle(jid, limit):
                    name, doc = by_id[jid]
                    self.store.write_doc(STATE_NAMESPACE, name, {**doc, "throttle": limit})
            except SchedulerError as e:
                notes.append(f"throttle update of {jid} failed: {e}")
        self.rejected, self.reject_error = False, None
        if d.new_workers:
            now = time.time()
            if now < self.submit_retry_at:
                notes.append(f"submission postponed: the scheduler rejected the last one; "
                             f"retry in {self.submit_retry_at - now:.0f}s")
            else:
                notes.append(self._submit(d.new_workers))
        return "; ".join(n for n in notes if n)

    def _submit(self, workers: int) -> str:
        """Submit ``workers`` new workers; a rejection is reported once and retried later."""
        lines: list[str] = []
        try:
            # ``workers`` counts array elements, each a job of per_job workers
            self.submitted += self.plan.submit(self.store, workers * self.plan.per_job,
                                               echo=lines.append)
        except SchedulerError as e:
            self.rejected = True
            self.reject_error = e
            self.submit_failures += 1
            wait = min(self.opts.poll * 2 ** self.submit_failures, max(self.opts.max_backoff,
                                                                      self.opts.poll))
            self.submit_retry_at = time.time() + wait
            words = e.stderr.strip() if isinstance(e, CommandFailed) and e.stderr.strip() else str(e)
            for line in lines:
                self.echo(line)
            if words != self.last_reject:
                self.last_reject = words
                self.echo(f"the scheduler rejected the submission of {workers} worker(s):\n"
                          f"  {str(e).replace(chr(10), chr(10) + '  ')}\n"
                          f"retrying with back-off (next try in {wait:.0f}s)")
                return "submission rejected (see above)"
            return f"submission still rejected; next try in {wait:.0f}s"
        self.submit_failures = 0
        if self.last_reject:
            self.echo("the scheduler accepted the submission again")
        self.last_reject = ""
        return "; ".join(lines)

    def _line(self, c: sizing.TaskCounts, arrays: list[sizing.ArrayState],
              d: sizing.Decision, note: str) -> str:
        """One status line: task states, workers, decision and why."""
        pending = sum(a.pending for a in arrays)
        running = sum(a.running for a in arrays)

        counts = {s: getattr(c, s) for s in STATES}
        text = (f"{time.strftime('%H:%M:%S')} tasks: {counts_text(counts, STATES)} | "
                f"workers: {pending} pending, {running} running | "
                f"{d.action}: {d.reason}")
        if self.eta is not None and d.exit_code is None:
            text += f" | ETA ~{format_duration(self.eta)}"
        if c.incomplete:
            text += " | jugfile stopped at a barrier: more tasks follow"
        return text + (f" | {note}" if note else "")

    # -- one loop per jugfile ------------------------------------------------------------
    def _record_name(self) -> str:
        """The document naming the loop that watches this jugfile."""
        return state_name("watch", self.plan.jugfile)

    def _beat(self) -> None:
        """Record (refresh) that this process watches the jugfile (best effort)."""
        me = current_owner()
        try:
            self.store.write_doc(WATCH_NAMESPACE, self._record_name(),
                                 {"host": me["host"], "pid": me["pid"], "started": me["started"],
                                  "heartbeat": time.time(), "poll": self.opts.poll,
                                  "jugfile": self.plan.jugfile})
        except Exception:
            pass

    def other_watcher(self) -> str | None:
        """Who else watches this jugfile right now (a live loop elsewhere), or None."""
        doc = self.store.read_docs(WATCH_NAMESPACE).get(self._record_name())
        me = current_owner()
        if not doc or (doc.get("host") == me["host"] and doc.get("pid") == me["pid"]):
            return None
        fresh = max(3 * float(doc.get("poll") or 60), 120.0)
        if owner_is_alive(doc, time.time(), fresh):
            return f"pid {doc.get('pid')} on {doc.get('host')}"
        return None

    def release(self) -> None:
        """Forget this loop's record (if it is still ours)."""
        name = self._record_name()
        try:
            doc = self.store.read_docs(WATCH_NAMESPACE).get(name)
            if doc and doc.get("pid") == current_owner()["pid"]:
                self.store.remove_doc(WATCH_NAMESPACE, name)
        except Exception:
            pass

    # -- the loop -----------------------------------------------------------------------
    def _failed_names(self) -> list[str]:
        """``name (hash)`` of each failed task of the jugfile."""
        failed = self.store.list_failed()
        return [f"{self.names[h]} ({h[:12]})" for h in self.order if h in failed]

    def _finish(self, d: sizing.Decision) -> int:
        """The closing message of a decision that ends the loop; returns the exit code."""
        jf = shlex.quote(os.path.relpath(self.plan.jugfile))
        if d.action == sizing.DONE:
            self.echo(f"done: {d.reason}")
        elif d.action == sizing.FAILED:
            names = self._failed_names()
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10
                                             else "")
            self.echo(f"stopped: {d.reason}; failed: {shown}\nsee 'jug status {jf}'; after a "
                      f"fix, 'jug cleanup --failed-only {jf}' and rerun to retry them")
        elif d.action == sizing.DRAINED:
            stop = shlex.quote(self.plan.stop_file)
            self.echo(f"drained: the stop file {self.plan.stop_file} exists, pending workers "
                      f"were cancelled and every running worker has finished its task. "
                      f"To resume: rm {stop} and rerun jug submit --watch")
        elif d.action == sizing.STUCK:
            self.echo(f"stopped: {d.reason}")
        return d.exit_code or 0

    def run(self) -> int:
        """Poll until done, failed, drained or interrupted; returns the exit code."""
        old = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:
            old = None  # not in the main thread
        other = self.other_watcher()
        if other:
            self.echo(f"another jug submit --watch ({other}) watches "
                      f"{os.path.relpath(self.plan.jugfile)} with this store: not starting a "
                      f"second loop (it would submit twice). Stop that one first.")
            return 2
        try:
            return self._loop()
        except KeyboardInterrupt:
            self._interrupted()
            return 130
        finally:
            self.release()
            if old is not None:
                signal.signal(signal.SIGTERM, old)

    def _loop(self) -> int:
        """The body of :meth:`run`."""
        while True:
            try:
                result = self.poll()
            except (SchedulerError, StoreError, OSError) as e:
                self.queue_errors += 1
                wait = min(self.opts.poll * 2 ** self.queue_errors,
                           max(self.opts.max_backoff, self.opts.poll))
                if str(e) != self.last_queue_error:
                    self.last_queue_error = str(e)
                    what = "scheduler" if isinstance(e, SchedulerError) else "store"
                    self.echo(f"{time.strftime('%H:%M:%S')} {what} error (retrying with "
                              f"back-off):\n  {str(e).replace(chr(10), chr(10) + '  ')}")
                self.echo(f"{time.strftime('%H:%M:%S')} next poll in {wait:.0f}s")
                if self.opts.once:
                    return 1
                self.sleep(wait)
                continue
            if self.queue_errors:
                self.echo("the scheduler answers again")
            self.queue_errors = 0
            self.last_queue_error = ""
            d = result.decision
            if d.action == sizing.DRAIN and not self.drain_announced:
                self.drain_announced = True
                self.echo(f"draining: the stop file {self.plan.stop_file} exists: no new "
                          f"workers, pending ones cancelled, waiting for running workers to "
                          f"finish their task")
            if d.exit_code is not None:
                return self._finish(d)
            if self.opts.once:
                return 1 if self.rejected else 0
            self.sleep(self.opts.poll)

    def _interrupted(self) -> None:
        """Ctrl-C: workers keep running; say how to cancel them."""
        jf = shlex.quote(os.path.relpath(self.plan.jugfile))
        alive = ""
        if self.last:
            p = sum(a.pending for a in self.last.arrays)
            r = sum(a.running for a in self.last.arrays)
            alive = f" ({p} pending, {r} running at the last poll)"
        self.echo(f"\nstopped watching; submitted workers keep running{alive}.\n"
                  f"  cancel them: jug submit --cancel {jf}\n"
                  f"  drain them:  touch {shlex.quote(self.plan.stop_file)}\n"
                  f"  resume:      jug submit --watch ... {jf}")


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (e.g. tmux/ssh closing) stops watching like Ctrl-C."""
    raise KeyboardInterrupt


def run_watch(plan: JobPlan, store: Any, opts: WatchOptions) -> int:
    """Entry point of ``jug submit --watch``."""
    sched = plan.scheduler
    jf = os.path.relpath(plan.jugfile)
    limit = f", --max-queued {opts.max_queued}" if opts.max_queued else ""
    print(f"watching {jf} on {sched.name}: at most {opts.max_workers} worker(s){limit}, "
          f"walltime {sched.format_walltime(plan.walltime)} (tasks start until "
          f"{sched.format_walltime(plan.budget)}), poll every {opts.poll:g}s; "
          f"Ctrl-C stops watching (workers keep running), touch {plan.stop_file} drains",
          flush=True)
    sys.stdout.flush()
    return Watcher(plan, store, opts).run()


__all__ = ["Watcher", "WatchOptions", "PollResult", "run_watch", "state_name"]
