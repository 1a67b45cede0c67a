"""Requests in the chain record: a worker whose budget is spent must not lose its hand-over
because the planner lock is busy (another pool's worker, the planner job, a worker of another
generation is planning), nor a planner job its poll because the holder took longer than the
planner's wait (a hand-over asking a scheduler that does not answer again).  A worker cannot
wait (its allocation ends), so it leaves a
:class:`~.records.Request` in the record (compare-and-set) and goes; whoever holds the lock
takes every request and plans it before releasing the lock, and looks once more after
releasing (:func:`jug.hpc.chain.planning.plan_once`).  The writer tries the lock once more
after writing, so a request written just as the holder looked is not left behind: either the
writer gets the lock and plans it, or the lock has a holder who looks before it releases.
While a request waits, every poll counts its arrays as leaving.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .records import RUNNING, Chain, Request, Trigger, save_merged


def leave_request(store: Any, jugfile: str, after: int, by: str,
                  leaver: tuple[str, str] | None, started: float | None = None,
                  trigger: Trigger = Trigger.BUDGET) -> tuple[str, Request | None]:
    """Write the request of a budget hand-over or planner job that found the lock busy
    (unless the chain ended or the next generation, of the leaver's pool, is planned
    already).  Returns a line saying what happened, and the request written (None: none)."""
    while True:
        chain = Chain.load(store, jugfile)
        if chain is None or chain.status != RUNNING:
            return "the chain is over: nothing to plan", None
        pool = chain.pool_of(leaver[0]) if leaver else None
        nxt = chain.successor_of(after, pool)
        if nxt is not None:
            return f"generation {nxt.n} after generation {after} was planned by {nxt.by}", None
        request = Request(after, pool, leaver, by, time.time(), started, trigger.value)
        chain.requests.append(request.doc())
        if chain.save(store):
            return ("another process is planning the chain: left a hand-over request that it "
                    "plans before it stops"), request


def take_request(store: Any, jugfile: str) -> Request | None:
    """Take the oldest request out of the record (lock held; every request of a chain that
    ended is dropped): the one to plan now, or None."""
    while True:
        chain = Chain.load(store, jugfile)
        if chain is None or not chain.requests:
            return None
        base = copy.deepcopy(chain)
        if chain.status != RUNNING:
            chain.requests = []
            save_merged(store, base, chain)
            continue
        request = Request.of(chain.requests[0])
        chain.requests = chain.requests[1:]
        save_merged(store, base, chain)
        return request


def waiting(store: Any, jugfile: str) -> bool:
    """True if requests wait in the record."""
    chain = Chain.load(store, jugfile)
    return bool(chain is not None and chain.requests)
