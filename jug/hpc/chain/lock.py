"""The planner lock: exactly one process plans a chain at a time.  It is a store lock with an
owner record, heartbeaten while held and reclaimed like a task lock when its owner is provably
dead: its process gone (same host), its batch job gone from the queue, or its heartbeat stale.

A planner that dies holding it (a hand-over killed at walltime or by its own timeout) must not
make every later planner give up: the lock beats every :data:`HEARTBEAT_EVERY` seconds, counts
as dead after :data:`LOCK_STALE` (well inside a planner job's :data:`LOCK_WAIT`), and a
planner job asks the queue whether the owner's batch job still exists.  Two planners at once
remain possible (a stalled owner judged dead); the compare-and-set of the chain record then
makes the later one withdraw (:func:`jug.hpc.chain.records.save_merged`).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

from ...schedulers.base import DONE, SchedulerError
from ...state.locks import owner_is_dead
from ..watch import owner_key

#: how long a planner job waits for the planner lock held by a live process (seconds)
LOCK_WAIT = 120.0

#: how long a pool's worker with no work left waits for the planner lock (seconds): long
#: enough for one poll of another worker, short enough not to hold its allocation idle
NO_WORK_WAIT = 10.0

#: seconds between two heartbeats of a held planner lock
HEARTBEAT_EVERY = 10.0

#: a planner lock whose heartbeat is older than this is dead (six missed beats; task locks,
#: which beat less often, wait longer)
LOCK_STALE = 60.0

#: seconds between two queue questions while waiting for a busy lock
QUEUE_EVERY = 15.0


def lock_key(jugfile: str) -> str:
    """The store lock that one planner at a time holds for ``jugfile``."""
    return "jug-chain-" + hashlib.sha1(os.path.abspath(jugfile).encode()).hexdigest()[:24]


def _job_in_queue(scheduler: Any, owner: dict) -> bool | None:
    """Whether the batch job of lock owner ``owner`` is in ``scheduler``'s queue (None: no
    job of this scheduler, or the queue did not answer: no evidence)."""
    key = owner_key(owner)
    if scheduler is None or key is None or key[0] != scheduler.name:
        return None
    try:
        entries = scheduler.queue()
    except SchedulerError:
        return None
    index = key[2]
    return any(e.array_id == key[1] and e.state != DONE
               and (e.indices is None or index is None or int(index) in e.indices)
               for e in entries)


class PlannerLock:
    """``with PlannerLock(store, jugfile, wait) as got:`` -- ``got`` False if it stayed busy.

    ``scheduler`` (the chain's adapter): an owner whose batch job left its queue is dead.
    """

    def __init__(self, store: Any, jugfile: str, wait: float = 0.0,
                 scheduler: Any = None) -> None:
        self.store = store
        self.key = lock_key(jugfile)
        self.wait = wait
        self.scheduler = scheduler
        self.held = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lock, reclaiming a dead owner's; waits up to ``wait`` seconds."""
        end = time.time() + self.wait
        asked = 0.0
        while True:
            if self.store.lock(self.key):
                self._hold()
                return True
            owner = self.store.lock_owner(self.key)
            ask = time.time() - asked >= QUEUE_EVERY
            if owner and self._dead(owner, ask):
                self.store.reclaim(self.key, owner)
                continue
            asked = time.time() if ask else asked
            if time.time() >= end:
                return False
            time.sleep(0.5)

    def _dead(self, owner: dict, ask_queue: bool) -> bool:
        """True if ``owner`` is provably dead (the queue is asked only if ``ask_queue``)."""
        if owner_is_dead(owner, time.time(), LOCK_STALE, None):
            return True
        return ask_queue and _job_in_queue(self.scheduler, owner) is False

    def _hold(self) -> None:
        """The lock is ours: beat its heartbeat until it is released."""
        self.held = True
        self._stop.clear()
        self._beat = threading.Thread(target=self._beating, name="jug-planner-lock",
                                      daemon=True)
        self._beat.start()

    def _beating(self) -> None:
        """The heartbeat thread (a failed beat is retried at the next one)."""
        while not self._stop.wait(HEARTBEAT_EVERY):
            try:
                self.store.heartbeat(self.key)
            except Exception:
                pass

    def release(self) -> None:
        """Give the lock back (if held)."""
        if self.held:
            self._stop.set()
            if self._beat is not None:
                self._beat.join()
            self.store.unlock(self.key)
            self.held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
