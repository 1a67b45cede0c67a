"""``jug submit`` with worker pools: one array per pool, each sized from its own tasks.

:class:`PoolsWatcher` is the resubmit loop of :mod:`jug.hpc.watch` over several
pools: each poll loads the jugfile (once), makes one queue query, and lets one
:class:`PoolWatcher` per pool size that pool's arrays with the shared pure rule
(:func:`jug.hpc.sizing.decide`) from the pool's ready and soon-ready tasks only.  A
pool whose tasks wait on another pool's work gets no worker until that work is done.  A
plain ``jug submit`` is one such poll; ``--watch`` repeats it until every pool is done.
"""

from __future__ import annotations

import copy
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..schedulers.base import QueueEntry
from ..state.membership import DEFAULT, Pool, assign
from . import sizing
from .job import JobPlan
from .pool_settings import max_workers, pool_settings
from .watch import PollResult, Watcher, WatchOptions

#: which decision ends the loop when every pool has ended (the worst wins)
_SEVERITY = {sizing.DONE: 0, sizing.FAILED: 1, sizing.STUCK: 2, sizing.DRAINED: 3}


def pool_plans(settings: Mapping[str, Any], pools: Sequence[Pool], jugfile: str,
               jugfile_args: list[str] | None = None,
               workdir: str | None = None) -> dict[str, JobPlan]:
    """``{pool name: JobPlan}``: each pool's settings over the rest (validated up front)."""
    stem = Path(jugfile).stem
    plans = {}
    for pool in pools:
        plan = JobPlan.from_settings(pool_settings(settings, pools, pool, stem), jugfile,
                                     jugfile_args, workdir)
        plan.pool = pool.name
        plans[pool.name] = plan
    return plans


def sum_counts(counts: Sequence[sizing.TaskCounts]) -> sizing.TaskCounts:
    """Task counts of all pools together (for the loop's closing line)."""
    total: dict[str, Any] = {}
    for f in fields(sizing.TaskCounts):
        if f.name in ("task_seconds",):
            continue
        values = [getattr(c, f.name) for c in counts]
        total[f.name] = any(values) if f.name == "incomplete" else sum(v or 0 for v in values)
    return sizing.TaskCounts(**total)


def combine(decisions: Mapping[str, sizing.Decision], total: sizing.TaskCounts
            ) -> sizing.Decision:
    """One decision for the loop: it ends once every pool has ended (worst code wins), or
    when all that is left anywhere waits on failed tasks (of any pool)."""
    ds = list(decisions.values())
    if any(d.exit_code is None for d in ds):
        if any(d.action == sizing.DRAIN for d in ds):
            return sizing.Decision(sizing.DRAIN, "stop file")
        if (total.failed and not total.runnable and not total.running
                and total.waiting == total.blocked):
            return sizing.Decision(sizing.FAILED, f"only failed tasks ({total.failed}) and "
                                   f"{total.blocked} task(s) that need them remain",
                                   exit_code=sizing.EXIT_FAILED)
        return sizing.Decision(sizing.KEEP, "; ".join(f"{p}: {d.action}" for p, d in
                                                      decisions.items()))
    worst = max(ds, key=lambda d: _SEVERITY.get(d.action, 0))
    if worst.action == sizing.DONE:
        return sizing.Decision(sizing.DONE, f"all {total.finished} tasks finished",
                               exit_code=0)
    reasons = "; ".join(f"{p}: {d.reason}" for p, d in decisions.items()
                        if d.action == worst.action)
    return sizing.Decision(worst.action, reasons, exit_code=worst.exit_code)


class PoolWatcher(Watcher):
    """One pool's share of a poll: its arrays, its tasks, its decision."""

    def __init__(self, plan: JobPlan, store: Any, opts: WatchOptions,
                 parent: PoolsWatcher) -> None:
        super().__init__(plan, store, opts, echo=parent.echo, sleep=parent.sleep)
        self.parent = parent
        self.pool = plan.pool or DEFAULT

    def _load(self) -> None:
        """The parent loaded the jugfile for this poll already."""
        p = self.parent
        self.loaded, self.tasks, self.order = p.loaded, p.tasks, p.order
        self.deps, self.names = p.deps, p.names

    def _queue(self) -> list[QueueEntry]:
        return self.parent.entries

    def _arrays(self) -> dict[str, dict]:
        return {k: d for k, d in super()._arrays().items() if d.get("pool") == self.pool}

    def member(self) -> Callable[[str], bool]:
        pool_of = self.parent.pool_of
        return lambda h: pool_of.get(h) == self.pool

    def _line(self, c: sizing.TaskCounts, arrays: list[sizing.ArrayState],
              d: sizing.Decision, note: str) -> str:
        return f"[{self.pool}] " + super()._line(c, arrays, d, note)


#: makes one pool's watcher: (plan, store, options, the PoolsWatcher) -> PoolWatcher
SubWatcher = Callable[[JobPlan, Any, WatchOptions, "PoolsWatcher"], PoolWatcher]


class PoolsWatcher(Watcher):
    """The loop over every pool (see the module docstring); runs like a :class:`Watcher`."""

    def __init__(self, plans: Mapping[str, JobPlan], pools: Sequence[Pool], store: Any,
                 opts: WatchOptions, echo: Callable[[str], None] | None = None,
                 sub: SubWatcher | None = None, **kw: Any) -> None:
        """``sub`` makes each pool's watcher (default :class:`PoolWatcher`; a
        ``--until-done`` chain passes one that applies the chain's rules)."""
        main = plans.get(DEFAULT) or next(iter(plans.values()))
        super().__init__(main, store, opts, echo=echo, **kw)
        self.pools = list(pools)
        self.entries: list[QueueEntry] = []
        self.pool_of: dict[str, str] = {}
        self.subs: list[PoolWatcher] = []
        make = sub or PoolWatcher
        for pool in self.pools:
            sub_opts = copy.copy(opts)
            sub_opts.max_workers = max_workers(pool, opts.max_workers)
            self.subs.append(make(plans[pool.name], store, sub_opts, self))

    def poll(self) -> PollResult:
        """Load once, query the queue once, then let each pool decide and act."""
        if self.loaded is None or self.loaded.incomplete:
            self._load()
            by_name = assign(self.names.values(), self.pools)
            self.pool_of = {h: by_name[n] for h, n in self.names.items()}
        self.entries = self._queue()
        results = {}
        for sub in self.subs:
            sub._load()
            results[sub.pool] = sub.poll()
        counts = sum_counts([r.counts for r in results.values()])
        decision = combine({p: r.decision for p, r in results.items()}, counts)
        arrays = [a for r in results.values() for a in r.arrays]
        self.rejected = any(s.rejected for s in self.subs)
        self.last = PollResult(counts, arrays, decision, sum(r.reclaimed for r in results.values()),
                               line="\n".join(r.line for r in results.values()))
        return self.last


def describe_pools(pools: Sequence[Pool], plans: Mapping[str, JobPlan]) -> list[str]:
    """One line per pool: its tasks, resources and worker cap (for --dry-run and submit)."""
    lines = []
    for pool in pools:
        plan = plans[pool.name]
        s = {**plan.settings}
        if s.get("mem"):
            s["mem"] = plan.scheduler.format_memory(int(s["mem"]))
        res = ", ".join(f"{k.replace('_', '-')} {s[k]}" for k in
                        ("queue", "gpus", "mem", "cpus_per_task") if s.get(k))
        tasks = ", ".join(pool.tasks) if pool.tasks else "every task no other pool takes"
        cap = f"; max-workers {pool.max_workers}" if pool.max_workers else ""
        lines.append(f"pool {pool.name}: tasks {tasks}{'; ' + res if res else ''}{cap}")
    return lines


def run_pools(plans: Mapping[str, JobPlan], pools: Sequence[Pool], store: Any,
              opts: WatchOptions) -> int:
    """``jug submit`` (one poll) or ``jug submit --watch`` (until done) with pools."""
    for line in describe_pools(pools, plans):
        print(line, flush=True)
    watcher = PoolsWatcher(plans, pools, store, opts)
    code = watcher.run()
    later = [s.pool for s in watcher.subs if s.last and s.last.counts.left
             and not s.last.decision.wanted and not s.last.arrays]
    if opts.once and code == 0 and later:
        jf = os.path.relpath(watcher.plan.jugfile)
        print(f"pool(s) {', '.join(later)}: no worker yet, their tasks wait on other work; "
              f"'jug submit --watch {jf}' submits them as that work drains", flush=True)
    return code
