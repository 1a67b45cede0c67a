"""Starting a chain (``jug submit --until-done``: generation 1 and its planner job, with or
without pools) and cancelling one (``jug submit --cancel``).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ...schedulers import get_scheduler
from ...schedulers.base import SchedulerError
from ...state.membership import DEFAULT
from ...state.timings import Durations
from ...status.progress import plural
from ..job import JobPlan, SubmitError
from ..pool_settings import declaration, parse_pools
from ..watch import WatchOptions
from .bounds import default_generations
from .lock import LOCK_WAIT, PlannerLock
from .planner import attach_planner
from .planning import WITHDRAWN, main_plan, rebuild_plans, run_poll, withdraw
from .poll import ChainContext
from .records import (
    CANCELLED,
    HARD_GENERATIONS,
    RUNNING,
    STOPPED,
    Chain,
    Generation,
    Trigger,
    save_merged,
)


def check_can_chain(plan: JobPlan) -> None:
    """Refuse ``--until-done`` where compute nodes may not submit jobs (clear error)."""
    if plan.scheduler.compute_nodes_may_submit() is False:
        raise SubmitError(
            f"--until-done needs compute nodes that may submit jobs (workers and the planner "
            f"job submit the next workers), and this {plan.scheduler.name} cluster does not "
            f"allow it: use 'jug submit --watch' on a login node instead (or set "
            f"'compute-submit: yes' in your profile if your site does allow it)")


def recorded_settings(plan: JobPlan) -> dict[str, Any]:
    """The plan's settings with every derived value fixed, so workers rebuild the same plan."""
    s = dict(plan.settings)
    s.update(scheduler=plan.scheduler.name, workers=plan.workers, jugdir=plan.jugdir,
             stop_file=plan.stop_file, log_dir=plan.log_dir, job_name=plan.job_name,
             python=plan.python, pythonpath=plan.pythonpath or "none", margin=plan.margin,
             check=False)
    return s


def _new_chain(plan: JobPlan, store: Any, opts: WatchOptions, max_generations: int | None,
               summary: Mapping[str, Any], stages: int = 1) -> Chain:
    """The record of a new chain (not saved yet), after the checks that refuse one.

    ``stages``: pools the work passes through; each may take a generation of its own."""
    check_can_chain(plan)
    if max_generations is not None and not 1 <= max_generations <= HARD_GENERATIONS:
        raise SubmitError(f"--max-generations must be between 1 and {HARD_GENERATIONS}")
    old = Chain.load(store, plan.jugfile)
    if old is not None and old.status == RUNNING and _alive(plan, old):
        raise SubmitError(f"a --until-done chain already runs for {plan.jugfile} (generation "
                          f"{len(old.generations)}): see 'jug submit --status', stop it with "
                          f"'jug submit --cancel' or drain it with touch {plan.stop_file}")
    remaining = {n: c.get("waiting", 0) + c.get("ready", 0) + c.get("running", 0)
                 for n, c in (summary.get("tasks") or {}).items()}
    limit = max_generations or min(HARD_GENERATIONS, stages - 1 + default_generations(
        remaining, Durations.from_store(store).typical, opts.max_workers, plan.budget))
    return Chain(plan.jugfile, plan.jugdir, plan.workdir, plan.scheduler.name,
                 recorded_settings(plan), list(plan.jugfile_args), opts.max_workers,
                 opts.max_queued, limit, opts.stale_after, time.time(),
                 version=old.version if old is not None else 0)


def _first_save(chain: Chain, store: Any) -> None:
    """Write the new record over the one it replaces (before submitting: a worker that
    leaves early finds it); another ``jug submit`` that wrote first wins."""
    if not chain.save(store):
        raise SubmitError(f"another jug submit started a chain for {chain.jugfile} at the "
                          f"same time: see 'jug submit --status'")


def recorded_plans(chain: Chain, password: str | None = None
                   ) -> tuple[JobPlan, dict[str, JobPlan] | None, list | None]:
    """The plans ``chain`` was started with, rebuilt from its record, for ``jug submit
    --resume``: (the main plan, {pool: plan} and the pools, or None without pools).
    ``password``: the Redis password given with ``--jugdir`` now (the record holds none)."""
    plans = pools = None
    if chain.pools:
        plans, pools = rebuild_plans(chain), parse_pools(chain.pools)
    main = main_plan(chain) if plans is None else plans.get("default") or next(
        iter(plans.values()))
    for plan in [main, *(plans or {}).values()]:
        plan.settings["check"] = True
        plan.redis_password = password or plan.redis_password
    return main, plans, pools


def describe_resume(chain: Chain, plan: JobPlan) -> str:
    """The line ``jug submit --resume`` starts with: which chain, and its settings."""
    sched = plan.scheduler
    s = plan.settings
    extra = "".join(f", {k.replace('_', '-')} {s[k]}" for k in ("queue", "account", "mem",
                                                              "cpus_per_task", "gpus")
                    if s.get(k))
    pools = f", pools {', '.join(chain.pools)}" if chain.pools else ""
    args = f", jugfile arguments {' '.join(chain.jugfile_args)}" if chain.jugfile_args else ""
    return (f"resuming the --until-done chain of {os.path.relpath(chain.jugfile)} ({chain.status}"
            f" since its generation {len(chain.generations)}) with the settings it was "
            f"started with: walltime {sched.format_walltime(plan.walltime)}, margin "
            f"{sched.format_walltime(plan.margin)}, {plural(plan.workers, 'worker')}, at most "
            f"{chain.max_workers} at once{extra}{pools}{args}")


def _say_planner(gen: Generation, echo: Callable[[str], None]) -> None:
    """Say whether generation 1's planner job (the safety net) was submitted."""
    if gen.planner:
        echo(f"submitted planner job {gen.planner} (runs when generation 1 has ended)")
    else:
        echo(f"warning: the planner job was not submitted ({gen.planner_error}); workers "
             f"still hand over when their budget is spent")


def start(plan: JobPlan, store: Any, opts: WatchOptions, max_generations: int | None,
          summary: Mapping[str, Any], echo: Callable[[str], None] = print) -> Chain:
    """Submit generation 1 and its planner job; record the chain.  Returns at once."""
    chain = _new_chain(plan, store, opts, max_generations, summary)
    with PlannerLock(store, plan.jugfile, LOCK_WAIT, plan.scheduler) as got:
        if not got:
            raise SubmitError("another process holds the chain's planner lock: try again")
        _first_save(chain, store)
        base = copy.deepcopy(chain)
        try:
            records = plan.submit(store, min(plan.workers, opts.max_workers), echo=echo)
        except SchedulerError as e:
            chain.end(STOPPED, f"the first submission failed: {str(e).splitlines()[0]}")
            save_merged(store, base, chain)
            raise
        ids = [r["job_id"] for r in records]
        finished = int((summary.get("total") or {}).get("finished", 0))
        gen = Generation(1, ids, sum(r["size"] for r in records), time.time(), "jug submit",
                         0, finished)
        chain.generations.append(gen)
        attach_planner(plan, chain, gen, ids)
        chain, withdrawn = save_merged(store, base, chain)
    if withdrawn:
        raise SubmitError(withdraw(store, plan, chain, withdrawn).message)
    _say_planner(gen, echo)
    return chain


def start_pools(plans: Mapping[str, JobPlan], pools: Sequence[Any], store: Any,
                opts: WatchOptions, max_generations: int | None, summary: Mapping[str, Any],
                echo: Callable[[str], None] = print) -> Chain:
    """``--until-done`` with pools: generation 1 is one pools poll (a pool whose tasks all
    wait on other pools gets no array yet), with one planner job held on all its arrays."""
    main = plans[DEFAULT]
    chain = _new_chain(main, store, opts, max_generations, summary, stages=len(pools))
    chain.pools = declaration(pools)
    chain.pool_settings = {name: recorded_settings(p) for name, p in plans.items()}
    with PlannerLock(store, main.jugfile, LOCK_WAIT, main.scheduler) as got:
        if not got:
            raise SubmitError("another process holds the chain's planner lock: try again")
        _first_save(chain, store)
        result = run_poll(store, ChainContext(chain, 0, {}), "jug submit", Trigger.START,
                          echo)
    if result.error is not None:  # the scheduler did not answer: say so, plan nothing
        chain = Chain.load(store, main.jugfile) or chain
        base = copy.deepcopy(chain)
        chain.end(STOPPED, f"the first poll failed: {result.message}")
        save_merged(store, base, chain)
        raise result.error
    if result.outcome == WITHDRAWN:
        raise SubmitError(result.message)
    if not chain.generations:
        if chain.status == RUNNING:
            base = copy.deepcopy(chain)
            chain.end(STOPPED, f"the first poll submitted no worker ({result.message})")
            save_merged(store, base, chain)
        raise SubmitError(f"nothing was submitted: {chain.reason}")
    _say_planner(chain.generations[0], echo)
    return chain


def _alive(plan: JobPlan, chain: Chain) -> bool:
    """True if an array or planner job of ``chain`` is still in the queue."""
    ids = chain.arrays() + chain.helpers()
    try:
        return any(c.alive for c in plan.scheduler.query(ids).values())
    except SchedulerError:
        return True


@dataclass
class Cancelled:
    """What cancelling a chain did: whether it was still running, the planner jobs cancelled."""

    was_running: bool = False
    planners: list[str] = field(default_factory=list)


def cancel(store: Any, jugfile: str, settings: Mapping[str, Any] | None,
           echo: Callable[[str], None] = print) -> Cancelled:
    """End the chain: mark it cancelled (compare-and-set: a planner running meanwhile sees
    it before it submits, or cancels what it submitted when its own write fails) and cancel
    its planner jobs still queued; the caller cancels the arrays."""
    chain = Chain.load(store, jugfile)
    if chain is None:
        return Cancelled()
    done = Cancelled(was_running=chain.status == RUNNING)
    while chain.status == RUNNING:  # no lock to wait for, and it wins
        chain.end(CANCELLED, "jug submit --cancel")
        if chain.save(store):
            break
        chain = Chain.load(store, jugfile) or chain
    helpers = chain.helpers()
    if not helpers:
        return done
    sched = get_scheduler(chain.scheduler, settings)
    counts = sched.query(helpers)
    done.planners = [j for j in helpers if counts[j].alive]
    if done.planners:
        sched.cancel(done.planners)
        echo(f"cancelled {plural(len(done.planners), 'planner job')} of the chain: "
             f"{', '.join(done.planners)}")
    return done
