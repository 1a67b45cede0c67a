"""The planner lock: exactly one process plans a chain at a time.  It is a store lock with an
owner record, reclaimed like a task lock when its owner is provably dead.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

#: how long a planner job waits for the planner lock held by a live process (seconds)
LOCK_WAIT = 120.0

#: how long a pool's worker with no work left waits for the planner lock (seconds): long
#: enough for one poll of another worker, short enough not to hold its allocation idle
NO_WORK_WAIT = 10.0


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
        from ...locks import owner_is_dead

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
