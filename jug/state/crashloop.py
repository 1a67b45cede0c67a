"""Crash loops: a task whose worker keeps dying (``os._exit``, segfault, OOM kill).

Such a task never raises, so it is never marked failed: each next worker reclaims its dead
lock, runs it and dies too, forever.  Every reclaim of a task's lock is recorded in the store
(namespace ``crashes``, one document per task, with why the worker died where the scheduler
says: :mod:`jug.state.deaths`); at :data:`LIMIT` counted deaths the task is marked failed
with what happened, which ``jug status`` shows, and stays failed until ``jug cleanup
--failed-only`` (which also resets the count).  Only deaths the task could have caused are
counted: a preempted, cancelled or node-failed worker says nothing about its task.  A reclaim
is atomic (one worker wins it), so each death is recorded once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..backends import Store
from ..backends.owner import current_owner, owner_summary
from ..schedulers.fate import Fate

NAMESPACE = "crashes"
#: reclaims of one task's lock after which the task is marked failed
LIMIT = 3
_KEEP_EVENTS = 5


@dataclass(frozen=True)
class Reclaim:
    """One reclaim of a dead worker's lock, as counted: ``count`` so far, ``failed`` if marked."""

    count: int
    failed: bool
    counted: bool = True  # False: a death the task did not cause (preempted, cancelled...)


def note_reclaim(store: Store, key: str, name: str, owner: dict | None, reason: str,
                 fate: Fate | None = None) -> Reclaim:
    """Record a reclaim of ``key``'s lock (``fate``: why its worker died, if known); count
    it unless the death was not the task's doing; mark the task failed at :data:`LIMIT`."""
    doc = store.read_docs(NAMESPACE).get(key) or {"task": name, "count": 0, "events": []}
    counted = fate is None or fate.cause.could_be_the_task
    if counted:
        doc["count"] = int(doc.get("count", 0)) + 1
    else:
        doc["not_counted"] = int(doc.get("not_counted", 0)) + 1
    event = {"time": time.time(), "owner": owner_summary(owner), "reason": reason}
    if fate is not None:
        event["fate"] = fate.as_json()
    doc["events"] = [*doc.get("events", [])[-(_KEEP_EVENTS - 1):], event]
    store.write_doc(NAMESPACE, key, doc)
    if not counted or doc["count"] < LIMIT:
        return Reclaim(doc["count"], False, counted)
    why = fate.describe() if fate is not None else reason
    error = (f"crash loop: the worker running it died {doc['count']} times without the task "
             f"raising (last: {event['owner']}, {why}); does it call os._exit, crash the "
             "interpreter or run out of memory?")
    store.fail(key, {"task": name, "error": error, "traceback": "", "time": time.time(),
                     "owner": current_owner(), "crash_loop": doc})
    return Reclaim(doc["count"], True)


def forget(store: Store, keys: list[str] | None = None) -> int:
    """Reset the reclaim counts of ``keys`` (all if None); returns how many were removed."""
    names = list(store.read_docs(NAMESPACE)) if keys is None else keys
    return sum(1 for k in names if store.remove_doc(NAMESPACE, k))
