"""The planner job: the safety net submitted with each generation, held until every live array
of the chain has ended, that runs one poll (``python -m jug.hpc.chain --generation N``).
"""

from __future__ import annotations

import os
import shlex
import time

from ...schedulers.base import SchedulerError
from ..job import JobPlan, SubmitError, _sanitize_name, parse_duration
from .records import Chain, Generation

#: the planner job's walltime unless ``planner-walltime`` says otherwise (seconds)
PLANNER_WALLTIME = 600


def planner_walltime(plan: JobPlan) -> int:
    """The planner job's walltime in seconds: ``planner-walltime``, else
    :data:`PLANNER_WALLTIME` whatever the workers' walltime (its poll may have to wait for a
    scheduler that does not answer, see :mod:`.planning`)."""
    walltime = plan.settings.get("planner_walltime")
    if walltime in (None, ""):
        return PLANNER_WALLTIME
    return parse_duration(walltime, "planner-walltime", bare_seconds=False)


def planner_command(plan: JobPlan, generation: int) -> list[str]:
    """The command a planner job runs: one poll after generation ``generation``, asking a
    scheduler that does not answer again until shortly before its walltime."""
    return [plan.python, "-m", "jug.hpc.chain", "--jugdir", plan.jugdir,
            "--generation", str(generation), "--walltime", str(planner_walltime(plan)),
            plan.jugfile]


def render_planner(plan: JobPlan, generation: int, after_ids: list[str]) -> str:
    """The planner job script of ``generation``, held until ``after_ids`` have ended (none:
    it may start at once, e.g. re-armed after scheduler errors)."""
    sched = plan.scheduler
    limit = sched.max_job_name
    name = _sanitize_name(f"{plan.job_name[: 10 if limit else None]}-plan", limit)
    extra = {"job_name": name, "planner_walltime": planner_walltime(plan),
             "generation": generation,
             "dependency": sched.dependency(after_ids) if after_ids else "",
             "planner_command": shlex.join(planner_command(plan, generation))}
    return plan.render(1, template=sched.planner_template, extra=extra)


def attach_planner(plan: JobPlan, chain: Chain, gen: Generation, after_ids: list[str]) -> None:
    """Submit the planner job of ``gen``; a failure is recorded (workers still hand over)."""
    try:
        text = render_planner(plan, gen.n, after_ids)
        os.makedirs(plan.log_dir, exist_ok=True)
        script = os.path.join(plan.log_dir, f"{plan.job_name}_plan{gen.n}_"
                              f"{time.strftime('%Y%m%d-%H%M%S')}.sh")
        with open(script, "w") as f:
            f.write(text)
        gen.planner = plan.scheduler.submit(script, cwd=plan.workdir)
    except (SchedulerError, SubmitError, OSError) as e:
        if len(after_ids) > len(gen.arrays) and gen.arrays:  # an older array may have left
            return attach_planner(plan, chain, gen, list(gen.arrays))
        gen.planner_error = str(e).splitlines()[0]


def rearm(plan: JobPlan, chain: Chain, after: int, alive: list[str]) -> None:
    """A planner job found enough workers of other arrays (e.g. a plain ``jug submit``) at
    the work: plan again once they have ended, or nobody would."""
    gen = next(g for g in chain.generations if g.n == after)
    probe = Generation(after, alive, 0, time.time(), "", after, 0)
    attach_planner(plan, chain, probe, alive)
    if probe.planner:
        gen.rearmed.append(probe.planner)
