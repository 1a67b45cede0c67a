"""Hand-over requests: a worker whose budget is spent must not lose its hand-over because the
planner lock is busy (another pool's worker, the planner job, a worker of another generation
is planning).  It cannot wait (its allocation ends), so it leaves a :class:`~.records.Request`
in the chain record (compare-and-set) and goes; whoever holds the lock plans every request
before releasing it, and looks once more after releasing.  The writer tries the lock once
more after writing, so a request written just as the holder looked is not left behind: either
the writer gets the lock and plans it, or the lock has a holder who will look before it
releases.  While a request waits, every poll counts its arrays as leaving.
"""

from __future__ import annotations

import copy
import time
from typing import Callable

from .lock import PlannerLock
from .planning import REQUESTED, SKIPPED, Caller, PlanResult, plan_locked
from .records import RUNNING, Chain, Request, Trigger, save_merged


def leave_request(store: object, jugfile: str, call: Caller) -> tuple[PlanResult, Request | None]:
    """Write the request of a budget hand-over that found the lock busy (unless the chain
    ended or the next generation of its pool is planned already)."""
    while True:
        chain = Chain.load(store, jugfile)
        if chain is None or chain.status != RUNNING:
            return PlanResult(SKIPPED, "the chain is over: nothing to plan"), None
        pool = chain.pool_of(call.leaver[0]) if call.leaver else None
        nxt = chain.successor_of(call.after, pool)
        if nxt is not None:
            return PlanResult(SKIPPED, f"generation {nxt.n} after generation {call.after} "
                              f"was planned by {nxt.by}"), None
        request = Request(call.after, pool, call.leaver, call.by, time.time())
        chain.requests.append(request.doc())
        if chain.save(store):
            return PlanResult(REQUESTED, "another process is planning the chain: left a "
                              "hand-over request that it plans before it stops"), request


def serve_requests(store: object, jugfile: str, deadline: float,
                   echo: Callable[[str], None]) -> dict[Request, PlanResult]:
    """Plan every request in the record, oldest first (lock held); each is taken out of the
    record before its poll.  Returns what each one's poll did."""
    served: dict[Request, PlanResult] = {}
    while True:
        chain = Chain.load(store, jugfile)
        if chain is None or not chain.requests:
            return served
        base = copy.deepcopy(chain)
        if chain.status != RUNNING:  # nothing to plan for an ended chain
            chain.requests = []
            save_merged(store, base, chain)
            continue
        request = Request.of(chain.requests[0])
        chain.requests = chain.requests[1:]
        save_merged(store, base, chain)
        served[request] = plan_locked(store, jugfile, Caller(
            request.after, request.by, Trigger.BUDGET, request.leaver, None, deadline), echo)


def serve_after_release(store: object, jugfile: str, deadline: float,
                        echo: Callable[[str], None]) -> None:
    """After releasing the lock: requests written while it was being released are planned
    here, unless the lock has a new holder (who plans them before it releases)."""
    while True:
        chain = Chain.load(store, jugfile)
        if chain is None or not chain.requests:
            return
        lock = PlannerLock(store, jugfile, 0.0)
        if not lock.acquire():
            return
        try:
            serve_requests(store, jugfile, deadline, echo)
        finally:
            lock.release()
