"""Lock liveness: tell a provably dead lock owner from one that may still be working.

A lock records its owner (:func:`jug.backends.owner.current_owner`): host, pid, process start
time, lock and heartbeat times, and the batch job.  ``jug cleanup`` removes a lock only when
its owner is dead or, for the broader modes, not known to be alive; a live worker's lock is
never removed.  Evidence of death, strongest first:

* same host and the pid no longer exists (``psutil.pid_exists``);
* same host, the pid exists but belongs to a process started after the lock's owner (pid reuse);
* the owner's batch job is no longer in the scheduler's queue (``live_queue_ids``, when known);
* the heartbeat (or lock time) is older than ``stale_after`` seconds;
* the lock has no owner record at all and is older than :data:`EMPTY_LOCK_GRACE` seconds.
"""

from __future__ import annotations

from typing import Any, Mapping

import psutil

from ..backends.owner import HOST, BatchJob

__all__ = ["owner_is_dead", "owner_is_alive", "LockVerdict", "judge", "HOST"]

#: process start times are recorded by different clocks/rounding: allow this much slack (s)
_START_SLACK = 2.0
#: seconds an empty lock file may wait for its owner record before it counts as dead
EMPTY_LOCK_GRACE = 10.0


def _number(x: Any) -> float | None:
    """``x`` as a float, or None if it is missing or not a number."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _last_sign_of_life(owner: Mapping) -> float | None:
    """The most recent heartbeat or lock time recorded in ``owner``."""
    times = [t for t in (_number(owner.get("heartbeat")), _number(owner.get("locked_at")))
             if t is not None]
    return max(times) if times else None


def _local_process_state(owner: Mapping, host: str) -> str | None:
    """'gone', 'reused', 'alive' for an owner on this host; None if it is elsewhere/unknown."""
    if owner.get("host") != host:
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    if not psutil.pid_exists(pid):
        return "gone"
    started = _number(owner.get("started"))
    if started is None:
        return "alive"
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.Error:
        return "alive"  # cannot inspect it (permissions): assume it is the owner
    # the owner recorded 'started' after its process was created; a process created later
    # than that is another process that got the same pid
    return "reused" if created > started + _START_SLACK else "alive"


def _queue_id(owner: Mapping) -> tuple[str, list[str]] | None:
    """(scheduler id shown in messages, ids under which the queue may list the owner's job)."""
    job = BatchJob.of(owner)
    if job is None or not job.ids:
        return None
    return f"{job.scheduler or 'batch'} job {job.ids[0]}", job.ids


def owner_is_dead(owner: Mapping | None, now: float, stale_after: float,
                  live_queue_ids: set | None = None, host: str = HOST) -> str | None:
    """Why the lock ``owner`` is provably dead, or None if it may still be alive.

    ``live_queue_ids`` is the set of job ids the batch scheduler currently lists (None: not
    known, the queue is not consulted).  ``stale_after`` <= 0 disables the heartbeat test.
    """
    if not owner:
        return None
    if owner.get("empty"):
        return _empty_lock_dead(owner, now)
    state = _local_process_state(owner, host)
    pid = owner.get("pid")
    if state == "gone":
        return f"process {pid} no longer exists on {host}"
    if state == "reused":
        return f"pid {pid} on {host} now belongs to a process started after the lock was taken"
    if state == "alive":
        return None  # the owning process runs here: alive, whatever its heartbeat says
    if live_queue_ids is not None:
        q = _queue_id(owner)
        if q is not None and not any(i in live_queue_ids for i in q[1]):
            return f"{q[0]} is no longer in the queue"
    last = _last_sign_of_life(owner)
    if stale_after > 0 and last is not None and now - last > stale_after:
        return f"no heartbeat for {now - last:.0f}s (more than {stale_after:g}s)"
    return None


def _empty_lock_dead(owner: Mapping, now: float) -> str | None:
    """An owner-less lock (its writer died between creating it and writing the record, or
    the disk was full) is dead once older than :data:`EMPTY_LOCK_GRACE` seconds."""
    created = _number(owner.get("locked_at"))
    if created is None or now - created <= EMPTY_LOCK_GRACE:
        return None
    return (f"the lock has no owner record after {now - created:.0f}s (its worker died "
            "while taking it)")


def owner_is_alive(owner: Mapping | None, now: float, stale_after: float,
                   host: str = HOST) -> str | None:
    """Why the lock ``owner`` is believed alive (its process runs here, or a fresh heartbeat)."""
    if not owner:
        return None
    state = _local_process_state(owner, host)
    if state == "alive":
        return f"process {owner.get('pid')} is running on {host}"
    if state in ("gone", "reused"):
        return None
    last = _last_sign_of_life(owner)
    if last is not None and (stale_after <= 0 or now - last <= stale_after):
        return f"heartbeat {max(0.0, now - last):.0f}s ago"
    return None


class LockVerdict:
    """What cleanup may do with one lock: ``dead`` / ``alive`` reasons (both None: unknown)."""

    __slots__ = ("key", "owner", "dead", "alive")

    def __init__(self, key: str, owner: Mapping | None, dead: str | None,
                 alive: str | None) -> None:
        self.key = key
        self.owner = owner
        self.dead = dead
        self.alive = alive

    def removable(self, strict: bool) -> bool:
        """Strict (``--stale``): only provably dead owners; else anything not known alive."""
        if self.dead:
            return True
        return not strict and not self.alive


def judge(locks: Mapping[str, Mapping | None], now: float, stale_after: float,
          live_queue_ids: set | None = None, host: str = HOST) -> list[LockVerdict]:
    """A :class:`LockVerdict` for every ``{key: owner}`` lock."""
    out = []
    for key, owner in locks.items():
        dead = owner_is_dead(owner, now, stale_after, live_queue_ids, host)
        alive = None if dead else owner_is_alive(owner, now, stale_after, host)
        out.append(LockVerdict(key, owner, dead, alive))
    return out
