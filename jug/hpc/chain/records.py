"""The chain record in the store (namespace ``chain``): every generation with its arrays, time
and planner job, the chain's status and why it ended, and the lines ``jug status`` and ``jug
submit --status`` show of it.  Also the vocabulary every part of the chain shares: the statuses
and :class:`Trigger` (who runs a poll).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any, Iterator, Mapping

from ...backends import default_jugdir
from ...status.progress import plural
from ..job import state_name

CHAIN_NAMESPACE = "chain"

#: generation limit when no run times are recorded yet
DEFAULT_GENERATIONS = 20

#: no chain runs more generations than this, whatever the options say
HARD_GENERATIONS = 100

RUNNING = "running"
DONE = "done"
FAILED = "failed"
DRAINED = "drained"
STOPPED = "stopped"
CANCELLED = "cancelled"


class Trigger(str, Enum):
    """Who runs a chain poll, which says what its poll may skip, discount and re-arm."""

    START = "start"  # jug submit: generation 1 of a chain with pools
    BUDGET = "budget spent"  # a worker whose budget is spent (its array's workers all leave)
    NO_WORK = "no work left"  # a pool's worker with nothing left it could run
    PLANNER = "planner job"  # the planner job: every array it waited on has ended


@dataclass
class Generation:
    """One set of arrays of the chain: who planned it, when, and the planner job after it."""

    n: int
    arrays: list[str]
    workers: int
    submitted: float
    by: str
    after: int  # the generation it follows (0: the first)
    finished_before: int  # finished tasks when it was submitted (progress check)
    planner: str | None = None
    planner_error: str = ""
    #: planner jobs re-armed after a planner found other workers still at the work
    rearmed: list[str] = field(default_factory=list)
    #: the pool of each array (chains with pools only)
    pools: dict[str, str] = field(default_factory=dict)
    #: finished tasks of each pool when it was submitted (the per-pool progress check)
    pool_finished: dict[str, int] = field(default_factory=dict)

    def arrays_of(self, pool: str | None) -> list[str]:
        """This generation's arrays of ``pool`` (None: all of them)."""
        return [a for a in self.arrays if pool is None or self.pools.get(a) == pool]

    def array_text(self) -> str:
        """``12, 13`` or, with pools, ``12 (default), 13 (gpu)``."""
        return ", ".join(f"{a} ({self.pools[a]})" if a in self.pools else a
                         for a in self.arrays)


@dataclass(frozen=True)
class Request:
    """A poll left in the chain record because the planner lock stayed busy (a budget
    hand-over, which cannot wait, or a planner job after its wait): the lock's holder plans
    it before releasing the lock (or the writer, if it gets the lock next)."""

    after: int  # the generation of the worker that left, or of the planner job
    pool: str | None
    leaver: tuple[str, str] | None  # (array short id, index)
    by: str
    at: float
    started: float | None = None  # when the worker that left started (its lock owner's)
    trigger: str = Trigger.BUDGET.value  # a budget hand-over or a planner job

    def doc(self) -> dict[str, Any]:
        """As stored in the record (JSON: the leaver a list, as it reads back)."""
        return {**asdict(self), "leaver": list(self.leaver) if self.leaver else None}

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Request:
        """The request a record holds."""
        leaver = doc.get("leaver")
        started = doc.get("started")
        return cls(int(doc.get("after") or 0), doc.get("pool"),
                   (str(leaver[0]), str(leaver[1])) if leaver else None,
                   str(doc.get("by") or "?"), float(doc.get("at") or 0.0),
                   None if started is None else float(started),
                   str(doc.get("trigger") or Trigger.BUDGET.value))

    @property
    def leaving(self) -> bool:
        """True for a budget hand-over: its arrays' workers are leaving."""
        return self.trigger == Trigger.BUDGET.value


@dataclass
class Chain:
    """The chain record of one jugfile and store (everything a worker needs to plan)."""

    jugfile: str
    jugdir: str
    workdir: str
    scheduler: str
    settings: dict[str, Any]
    jugfile_args: list[str]
    max_workers: int
    max_queued: int | None
    max_generations: int
    stale_after: float
    started: float
    status: str = RUNNING
    reason: str = ""
    generations: list[Generation] = field(default_factory=list)
    last_poll: dict[str, Any] = field(default_factory=dict)
    #: the pools declaration (:func:`jug.hpc.pool_settings.declaration`; empty: no pools)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: each pool's settings with every derived value fixed (:func:`recorded_settings`)
    pool_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: hand-overs left while the planner lock was busy, for its holder to plan
    #: (:meth:`Request.doc` of each)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: planner jobs re-armed in a row because the scheduler kept failing (0: it answers)
    error_rearms: int = 0
    #: the record's version in the store: every write is a compare-and-set on it
    version: int = 0

    @staticmethod
    def doc_name(jugfile: str) -> str:
        """The document name of the chain of ``jugfile`` in the ``chain`` namespace."""
        return state_name("chain", os.path.abspath(jugfile))

    @classmethod
    def load(cls, store: Any, jugfile: str) -> Chain | None:
        """The chain recorded for ``jugfile``, or None."""
        doc = store.read_docs(CHAIN_NAMESPACE).get(cls.doc_name(jugfile))
        if not doc:
            return None
        gens = [Generation(**_known(Generation, g)) for g in doc.pop("generations", [])]
        return cls(**_known(cls, doc), generations=gens)

    def save(self, store: Any) -> bool:
        """Write the record over the version it was read at (compare-and-set); False, writing
        nothing, if another process wrote it since (a cancel, a hand-over's request, another
        planner): read it again and decide again (:func:`save_merged`)."""
        doc = asdict(self)
        doc.pop("version")
        if not store.cas_doc(CHAIN_NAMESPACE, self.doc_name(self.jugfile), doc, self.version):
            return False
        self.version += 1
        return True

    def generation_of(self, array_short_id: str) -> int | None:
        """The generation whose arrays include ``array_short_id`` (None: not this chain's)."""
        for g in self.generations:
            if any(short_id(a) == array_short_id for a in g.arrays):
                return g.n
        return None

    def successor_of(self, n: int, pool: str | None = None) -> Generation | None:
        """The generation planned after generation ``n`` (with an array of ``pool``)."""
        return next((g for g in self.generations if g.after == n and g.arrays_of(pool)),
                    None)

    def pool_of(self, array_short_id: str) -> str | None:
        """The pool of one of the chain's arrays (None: no pools, or not this chain's)."""
        return next((g.pools.get(a) for g in self.generations for a in g.arrays
                     if short_id(a) == array_short_id), None)

    def arrays(self) -> list[str]:
        """Every array the chain submitted."""
        return [a for g in self.generations for a in g.arrays]

    def helpers(self) -> list[str]:
        """Every planner job the chain submitted."""
        return [j for g in self.generations for j in ([g.planner] if g.planner else [])
                + g.rearmed]

    def end(self, status: str, reason: str) -> None:
        """Mark the chain as over (nothing is submitted for it any more)."""
        self.status = status
        self.reason = reason


def save_merged(store: Any, base: Chain, ours: Chain) -> tuple[Chain, list[Generation]]:
    """Write ``ours`` (``base`` changed by one poll or command); if the record changed since
    ``base`` was read, apply our changes to the newer record instead (:func:`merge`).

    Returns the record written and our new generations that must be withdrawn (cancelled):
    the chain ended meanwhile (a cancel wins), or another planner planned a generation."""
    withdrawn: list[Generation] = []
    while not ours.save(store):
        theirs = Chain.load(store, ours.jugfile)
        if theirs is None:  # the record was removed: nothing of ours may run on
            theirs = copy.deepcopy(base)
            theirs.end(CANCELLED, "the chain record was removed")
            theirs.version = -1  # never written back
            withdrawn += ours.generations[len(base.generations):]
            return theirs, withdrawn
        merged, lost = merge(base, ours, theirs)
        withdrawn += lost
        base, ours = theirs, merged
    return ours, withdrawn


def merge(base: Chain, ours: Chain, theirs: Chain) -> tuple[Chain, list[Generation]]:
    """``theirs`` with the changes ``ours`` made to ``base``: our new generations only if
    ``theirs`` still runs with no generation added (else they are returned, to withdraw),
    planner jobs we re-armed, the requests we took or left, our last poll, our end."""
    merged = copy.deepcopy(theirs)
    new = ours.generations[len(base.generations):]
    lost = [] if theirs.status == RUNNING and len(theirs.generations) == len(
        base.generations) else list(new)
    merged.generations += [g for g in new if g not in lost]
    for g in ours.generations[:len(base.generations)]:
        was = next((b for b in base.generations if b.n == g.n), None)
        into = next((m for m in merged.generations if m.n == g.n), None)
        added = [j for j in g.rearmed if was is None or j not in was.rearmed]
        if into is not None:
            into.rearmed += [j for j in added if j not in into.rearmed]
        if added and theirs.status != RUNNING:  # re-armed planners of an ended chain go too
            lost.append(Generation(g.n, [], 0, g.submitted, g.by, g.after, 0, rearmed=added))
    taken = [r for r in base.requests if r not in ours.requests]
    merged.requests = [r for r in theirs.requests if r not in taken] + [
        r for r in ours.requests if r not in base.requests and r not in theirs.requests]
    if ours.last_poll != base.last_poll:
        merged.last_poll = ours.last_poll
    if ours.error_rearms != base.error_rearms:
        merged.error_rearms = ours.error_rearms
    if ours.status != base.status and merged.status == RUNNING and not lost:
        merged.end(ours.status, ours.reason)
    return merged, lost


def _known(cls: type, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``doc`` that ``cls`` has fields for (records of other jug versions load)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def short_id(job_id: str) -> str:
    """The leading number of a job id (every adapter's short id)."""
    m = re.match(r"\d+", str(job_id))
    return m.group(0) if m else str(job_id)


def resume_command(chain: Chain, jugfile: bool = True) -> str:
    """The exact command that starts ``chain`` again with the settings it was started with
    (``jug submit --resume``), as typed in the folder it was submitted from (``jugfile``
    False: without the jugfile, for a hint that adds it)."""
    path = os.path.relpath(chain.jugfile, chain.workdir)
    if path.startswith(os.pardir):
        path = chain.jugfile
    extra = [] if chain.jugdir == default_jugdir(chain.jugfile) else ["--jugdir", chain.jugdir]
    return shlex.join(["jug", "submit", "--resume", *extra, *([path] if jugfile else [])])


def clock(t: float) -> str:
    """``HH:MM:SS`` of a time stamp."""
    return time.strftime("%H:%M:%S", time.localtime(t))


def describe(chain: Chain) -> list[str]:
    """Lines for ``jug submit --status`` and ``jug status``."""
    workers = sum(g.workers for g in chain.generations)
    pools = f", pools {', '.join(chain.pools)}" if chain.pools else ""
    head = (f"chain (--until-done{pools}): {chain.status}, generation {len(chain.generations)} "
            f"of at most {chain.max_generations}, {plural(workers, 'worker')} submitted since "
            f"{clock(chain.started)}")
    lines = [head]
    if chain.reason:
        lines.append(f"  {chain.status}: {chain.reason}")
    for g in chain.generations:
        planner = (f"planner job {g.planner}" if g.planner
                   else f"no planner job ({g.planner_error})" if g.planner_error else "")
        if g.rearmed:
            planner += f", re-armed as {', '.join(g.rearmed)}"
        lines.append(f"  generation {g.n}: array(s) {g.array_text()} "
                     f"({plural(g.workers, 'worker')}) at {clock(g.submitted)} by {g.by}; "
                     f"{planner}")
    if chain.requests:
        lines.append(f"  {plural(len(chain.requests), 'hand-over request')} waiting for the "
                     f"planner lock's holder")
    if chain.last_poll:
        line = str(chain.last_poll.get("line", "")).replace("\n", "\n    ")  # one per pool
        lines.append(f"  last plan at {clock(chain.last_poll['at'])} by "
                     f"{chain.last_poll['by']}: {line}")
    return lines


def iter_chain_lines(store: Any, jugfile: str) -> Iterator[str]:
    """The chain lines of ``jugfile`` (nothing if it never ran as a chain)."""
    chain = Chain.load(store, jugfile)
    if chain is not None:
        yield from describe(chain)
