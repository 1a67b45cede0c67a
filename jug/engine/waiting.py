"""When an idle worker waits for other workers, and how it notices quickly that the wait is over.

A worker that finds nothing to run has two kinds of leftover tasks: tasks *held* (locked) by
other live workers, which it can never run, and tasks *waiting* for such a held task, which it
can run once the holder finishes.  Only the second kind is worth waiting for: a worker left with
held tasks alone exits at once instead of sleeping through wait cycles (at the end of a batch
array that idle tail used to cost every node minutes).  A jugfile stopped at a barrier counts as
a waiting task: what follows the barrier needs everything before it.

While it waits, the worker polls the locks it is waiting on: first after 10 ms, then at
intervals growing by half each time up to the wait-cycle time, so a short task's result is
noticed within a fraction of a second and a long one costs the store few polls.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Collection

from ..backends import Store

FIRST_POLL = 0.01  # seconds before the first poll of a wait
GROWTH = 1.5  # each poll interval is this much longer than the one before
EXIT_CHECK_EVERY = 1.0  # seconds between checks of the exit conditions (STOP file...) while waiting
_FEW_LOCKS = 8  # up to this many watched locks are polled one by one, more by one bulk listing


class Verdict(enum.Enum):
    """What an idle worker does after a pass in which it could run nothing."""

    EXIT = "exit"  # everything left is held by other workers: nothing here could ever run
    WAIT = "wait"  # a task this worker could run needs a task that runs elsewhere


class WaitEnd(enum.Enum):
    """Why a wait ended."""

    CHANGED = "changed"  # a watched lock was released: look at the store again
    TIMEOUT = "timeout"  # a whole wait cycle passed with no change
    STOP = "stop"  # an exit condition fired


@dataclass
class Leftovers:
    """The tasks one pass could not run: held by other workers, or waiting for those."""

    held: list[str] = field(default_factory=list)  # hashes locked by another worker
    waiting: int = 0  # tasks whose dependencies are not finished yet
    backoff: int = 0  # failed tasks to be retried once their back-off ends (--retries)

    def verdict(self, more_after_barrier: bool) -> Verdict:
        """Wait only if some task this worker could run depends on a running one, or waits
        for its back-off to end."""
        if self.waiting or self.backoff or (more_after_barrier and self.held):
            return Verdict.WAIT
        return Verdict.EXIT


def still_locked(store: Store, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` are locked: a few one by one, many with one bulk listing."""
    if len(keys) <= _FEW_LOCKS:
        return {k for k in keys if store.is_locked(k)}
    return set(store.list_locks()).intersection(keys)


class Poller:
    """Poll intervals that start short and grow to the wait-cycle time; reset after progress."""

    def __init__(self, cycle: float) -> None:
        self.cycle = max(cycle, 0.0)
        self.interval = FIRST_POLL

    def reset(self) -> None:
        """Progress was made: the next wait polls quickly again."""
        self.interval = FIRST_POLL

    def next_interval(self) -> float:
        """Seconds until the next poll (and grow the following one)."""
        now = min(self.interval, self.cycle)
        self.interval = min(self.interval * GROWTH, self.cycle) if self.cycle else FIRST_POLL
        return now

    def wait(self, store: Store, watch: Collection[str],
             should_stop: Callable[[], str | None], limit: float | None = None
             ) -> tuple[WaitEnd, str | None]:
        """Wait up to one cycle (or ``limit`` seconds, if shorter: a back-off that ends) for a
        lock in ``watch`` to be released (``watch`` empty: the whole cycle); checks
        ``should_stop`` at least every second.  Returns why it ended."""
        start = time.monotonic()
        deadline = start + (self.cycle if limit is None else min(self.cycle, limit))
        next_poll = start + self.next_interval()
        while True:
            reason = should_stop()
            if reason:
                return WaitEnd.STOP, reason
            now = time.monotonic()
            if now >= next_poll:
                if watch and len(still_locked(store, watch)) < len(watch):
                    return WaitEnd.CHANGED, None
                next_poll = now + self.next_interval()
            if now >= deadline:
                return WaitEnd.TIMEOUT, None
            time.sleep(max(0.0, min(next_poll, deadline, now + EXIT_CHECK_EVERY) - now))
