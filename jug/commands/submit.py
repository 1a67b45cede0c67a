"""``jug submit``: run a jugfile on a batch cluster as one job array of ``jug execute`` workers.

Settings come from site profiles (:mod:`jug.hpc.profiles`) and the command line; the
script is rendered from Jinja2 templates (:mod:`jug.hpc.job`) and submitted through a
scheduler adapter (:mod:`jug.schedulers`).  Heavy imports happen only inside :func:`run`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

from ..config.options import Option, all_options
from ..hpc.settings import LOOP_DEFAULTS, applies_to, command_line_options
from ..status.progress import plural

HELP = "Submit workers for a jugfile to SLURM, PBS, SGE, LSF or HTCondor as a job array"
TAKES_JUGFILE = True
OPTIONS = [
    *command_line_options(loop=False),
    Option("profile", None, metavar="NAME", help="Named profile from ~/.config/jug/submit.yaml or jug-submit.yaml"),
    Option("dry-run", None, "Print the merged settings, the job script and the submit command; "
           "submit nothing", flag=True, negatable=False),
    Option("report", None, "Print where the allocated worker-seconds went, per pool and in "
           "all: task seconds, efficiency, idle seconds at the start, middle and tail of "
           "the workers, workers that left early and why, tasks run more than once (SLURM's "
           "sacct adds queue waits and start-up/kill times when it answers)", flag=True,
           negatable=False),
    Option("cancel", None, "Cancel every array submitted for this jugfile and store",
           flag=True, negatable=False),
    Option("watch", None, "Stay on the login node: resubmit workers as the remaining work needs "
           "until every task is finished (one line per poll). Exit code 0: all finished; 1: "
           "only failed tasks remain; 2: cannot continue (tasks longer than the walltime, "
           "another loop watches); 3: drained by the stop file; 130: Ctrl-C (workers keep "
           "running)", flag=True, negatable=False),
    Option("until-done", None, "Return at once and let the work carry itself across walltimes: "
           "workers whose budget is spent submit the next workers (one --watch poll), a small "
           "planner job after each generation is the safety net; ends when every task is "
           "finished or failed, or the stop file drains it", flag=True, negatable=False),
    Option("status", None, "Show the --until-done chain and the arrays recorded for this "
           "jugfile and store", flag=True, negatable=False),
    Option("resume", None, "Start the --until-done chain of this jugfile again with the "
           "settings it was started with (after a drain, a stop or a cancel; --jugdir if it "
           "was not the default)", flag=True, negatable=False),
    Option("once", None, "With --watch: a single poll (status, reclaim, resubmit), then exit",
           flag=True, negatable=False),
    *command_line_options(loop=True),
]

_ACTIONS = ("dry_run", "cancel", "profile", "watch", "once", "until_done", "status", "report",
            "resume",
            *LOOP_DEFAULTS)


def _err(msg: str) -> None:
    """Print an error of jug submit on stderr."""
    print(f"jug submit: {msg}", file=sys.stderr)


def settings_from_args(args: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge profiles with what the command line, a jugrc or the environment set, once."""
    # start-up time: jug --help imports every command module
    from ..hpc import profiles as submit_profiles

    module = sys.modules[__name__]
    sources = getattr(args, "option_sources", {}) or {}
    overrides: dict[str, Any] = {}
    override_sources: dict[str, str] = {}
    for opt in all_options(module):
        if opt.dest in _ACTIONS or opt.dest == "verbose":
            continue
        src = sources.get(opt.name, "command line")
        value = getattr(args, opt.dest, None)
        if src == "default" or value is None:
            continue
        overrides[opt.dest] = value
        override_sources[opt.dest] = src
    profile = getattr(args, "profile", None)
    return submit_profiles.merge(args.jugfile, profile, overrides, override_sources)


def check_jugfile(plan: Any) -> dict[str, Any]:
    """Load the jugfile in a subprocess (``jug status --json``); errors stop the submission."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError

    cmd = [plan.python, "-m", "jug", "status", "--json", "--jugdir", plan.jugdir, plan.jugfile]
    if plan.jugfile_args:
        cmd += ["--", *plan.jugfile_args]
    env = {**os.environ, **plan.secret_env()}  # the password never on a command line
    if plan.pythonpath:
        env["PYTHONPATH"] = plan.pythonpath
    try:
        proc = subprocess.run(cmd, cwd=plan.workdir, env=env, capture_output=True, text=True,
                              timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SubmitError(f"cannot check the jugfile with {shlex.join(cmd)}: {e}")
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
        raise SubmitError(f"the jugfile does not load, nothing was submitted "
                          f"({shlex.join(cmd)} exited {proc.returncode}):\n{detail}\n"
                          f"(--no-check skips this check)")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {}


def _print_settings(settings: dict, sources: dict, plan: Any,
                    shown: dict[str, tuple[Any, str]] | None = None) -> None:
    """Print the merged settings with their sources (for --dry-run); ``shown`` puts other
    values and sources in front (a pool's array size and where it comes from)."""
    sched = plan.scheduler
    derived = {
        "scheduler": sched.name, "jugfile": plan.jugfile, "jugdir": plan.jugdir,
        "workdir": plan.workdir, "walltime": sched.format_walltime(plan.walltime),
        "margin": sched.format_walltime(plan.margin),
        "budget": sched.format_walltime(plan.budget) + " (JUG_MAX_HOURS/MINUTES/SECONDS, "
                  "from the job's start)",
        "backstop": sched.signal_note(plan.walltime, plan.margin),
        "validation": " ".join(sched.validate_args("SCRIPT") or []) or
                      f"none ({sched.name} has no dry validation of a job script)",
        "stop_file": plan.stop_file, "log_dir": plan.log_dir, "job_name": plan.job_name,
        "python": plan.python, "env": plan.settings.get("env"),  # without a password
    }
    if plan.settings.get("mem"):
        derived["mem"] = sched.format_memory(int(plan.settings["mem"]))
    print("# settings (value  <- where it came from):")
    keys = list(dict.fromkeys([*(shown or {}), *derived, *settings]))
    for key in keys:
        value = derived.get(key, settings.get(key))
        src = sources.get(key, "derived")
        if key in derived and settings.get(key) in (None, ""):
            src = "derived"
        if shown and key in shown:
            value, src = shown[key]
        if (value in (None, [], {}, "") or key in ("check", "validate", "pythonpath")
                or not applies_to(key, sched.name)):
            continue
        print(f"#   {key.replace('_', '-'):<16} {value}  <- {src}")


def _pool_sources(sources: dict, settings: dict, pool: Any, cap: tuple[int, str]
                  ) -> tuple[dict, dict[str, tuple[Any, str]]]:
    """The sources of a pool's settings (its own keys come from where the pool was declared:
    a profile file or ``--pool``), and its array size with where that comes from."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_settings import parse_pool_option

    on_command_line = {parse_pool_option(str(t))[0] for t in settings.get("pool") or []}
    origin = (f"{sources.get('pool', 'command line')} (--pool {pool.name})"
              if pool.name in on_command_line
              else f"{sources.get('pools', 'profile')}, pool {pool.name}")
    mine = {**sources, **{k: origin for k in pool.settings}}
    mine["execute_args"] = f"derived (pool {pool.name}'s tasks)"
    if "job_name" not in pool.settings:
        mine["job_name"] = f"derived (pool {pool.name})"
    if pool.max_workers:
        size = (pool.max_workers, f"{origin}: max-workers (sized at submission)")
    elif pool.settings.get("workers"):
        size = (int(pool.settings["workers"]), f"{origin} (sized at submission)")
    else:
        size = (cap[0], f"{cap[1]} (the pool has no max-workers; sized at submission)")
    return mine, {"workers": size}


def _cancel(settings: dict, jugfile: str, dry_run: bool) -> int:
    """Cancel every array recorded for ``jugfile`` in its store (no scheduler option needed)."""
    # start-up time: jug --help imports every command module
    from ..backends import StoreError, default_jugdir, select_store
    from ..hpc.job import SubmitError, cancel_arrays, split_password, submitted_arrays
    from ..schedulers import get_scheduler

    jugdir = settings.get("jugdir") or default_jugdir(jugfile)
    if "://" not in str(jugdir) and jugdir != "dict_store":
        jugdir = os.path.abspath(str(jugdir))
    try:
        store = select_store(jugdir)
    except StoreError as e:
        raise SubmitError(str(e))
    lines: list[str] = []
    chain = None
    if not dry_run:
        # start-up time: jug --help imports every command module
        from ..hpc.chain.start import cancel as cancel_chain

        chain = cancel_chain(store, jugfile, settings, echo=lines.append)  # no planner after
    docs = submitted_arrays(store, jugfile)
    if not docs and not lines:
        shown = split_password(str(jugdir))[0]
        ended = "; its --until-done chain is marked cancelled" if chain and chain.was_running \
            else ""
        print(f"no submitted arrays recorded for {os.path.abspath(jugfile)} in {shown}{ended}")
        return 0
    if dry_run:
        for doc in docs.values():
            cmd = get_scheduler(doc["scheduler"], settings).cancel_args([doc["job_id"]])
            print(f"would run: {shlex.join(cmd)}")
        return 0
    n = cancel_arrays(store, docs, settings, echo=lines.append)
    print("\n".join([*lines, _cancel_summary(n, len(docs), chain)]))
    return 0


def _cancel_summary(cancelled: int, records: int, chain: Any) -> str:
    """The last (with nothing running: the only) line of ``jug submit --cancel``."""
    ended = "; the --until-done chain is marked cancelled" if chain and chain.was_running \
        else ""
    if cancelled == 0 and not (chain and chain.planners):
        return (f"nothing was running: none of the {plural(records, 'recorded array')} is "
                f"still queued; {plural(records, 'record')} removed{ended}")
    return f"cancelled {plural(cancelled, 'array')}; {plural(records, 'record')} removed{ended}"


def _report(args: Any, settings: dict, sources: dict) -> int:
    """``--report``: the allocation account of this jugfile's workers (read-only)."""
    # start-up time: jug --help imports every command module
    from ..backends import StoreError, default_jugdir, select_store
    from ..hpc.job import SubmitError
    from ..hpc.pool_settings import pools_from_settings
    from ..hpc.report import for_store, format_report
    from ..hpc.rightsize import for_store as sizing_for
    from ..hpc.rightsize import format_sizing
    from ..jugfile import JugfileError, load

    pools = pools_from_settings(settings, f"{sources.get('pools', 'pools')}: pools")
    jugdir = settings.get("jugdir") or default_jugdir(args.jugfile)
    try:
        store = select_store(str(jugdir))
        loaded = load(args.jugfile, store, getattr(args, "jugfile_args", None))
    except (StoreError, JugfileError) as e:
        raise SubmitError(f"cannot report: {e}")
    scope = _report_scope(args, store)
    accounts, accounting = for_store(store, loaded.tasks, pools, args.jugfile, scope=scope)
    if accounts["all"].workers == 0:
        print(f"no worker records for {args.jugfile} in {store.description} of "
              f"{scope.label}" + (": no worker has run yet" if scope.since is None else ""))
        return 0
    print(format_report(accounts, accounting, scope))
    print()
    print(format_sizing(sizing_for(store, (t.name for t in loaded.tasks), pools, settings,
                                   args.jugfile)))
    return 0


def _report_scope(args: Any, store: Any) -> Any:
    """The :class:`jug.hpc.report.Scope` of ``--since`` / ``--chain`` (the whole history without)."""
    from ..hpc.job import SubmitError  # the toolkit only when used: start-up time
    from ..hpc.report import Scope, ScopeError, chain_scope, since_scope

    since, chain_id = getattr(args, "since", None), getattr(args, "chain", None)
    if since and chain_id:
        raise SubmitError("--since and --chain choose the report's workers in two ways: give "
                          "one (--chain: one --until-done chain; --since: a time window)")
    try:
        if since:
            return since_scope(since)
        if chain_id:
            from ..hpc.chain.records import Chain  # start-up time, as above

            chain = Chain.load(store, args.jugfile)
            if chain is None:
                raise ScopeError(f"--chain: no --until-done chain is recorded for "
                                 f"{args.jugfile} in {store.description}")
            return chain_scope(chain, chain_id)
    except ScopeError as e:
        raise SubmitError(str(e)) from None
    return Scope()


def _describe_status(summary: dict) -> tuple[str, bool]:
    """One line of task counts, and whether anything is left to run."""
    total = summary.get("total") or {}
    if not total:
        return "", True
    left = total.get("waiting", 0) + total.get("ready", 0) + total.get("running", 0)
    # start-up time: jug --help imports every command module
    from ..status.progress import counts_text

    text = counts_text(total)
    return text, bool(left or summary.get("incomplete"))


def _idle_workers_note(summary: dict, workers: int) -> str:
    """A warning when more workers are asked for than tasks are left: the rest would start,
    find nothing to do and exit, wasting queue slots ("" when the counts are unknown)."""
    total = summary.get("total") or {}
    left = sum(total.get(k, 0) for k in ("ready", "waiting", "running"))
    if not left or workers <= left or summary.get("incomplete"):
        return ""
    return (f"{workers} workers for {plural(left, 'unfinished task')}: the extra workers will find "
            f"nothing to do and exit")


def run(args: Any) -> int:
    """Entry point: merge settings, then dry-run, cancel or submit."""
    # start-up time: jug --help imports every command module
    from ..backends import StoreError
    from ..hpc.job import SubmitError
    from ..hpc.profiles import ProfileError
    from ..schedulers import SchedulerError

    try:
        return _run(args)
    except (SubmitError, ProfileError, StoreError) as e:
        _err(str(e))
        return 2
    except SchedulerError as e:
        _err(str(e))
        return 1


def _check_jugfile_exists(args: Any) -> None:
    """SubmitError unless the jugfile exists (saying so when ``--chain`` took its name)."""
    from ..hpc.job import SubmitError  # start-up time: jug --help imports this module

    if os.path.isfile(args.jugfile):
        return
    chain_id = str(getattr(args, "chain", None) or "")
    if chain_id.endswith(".py") and os.path.isfile(chain_id):  # --chain ate the jugfile
        raise SubmitError(f"--chain takes the chain: 'latest' or a job id of it, e.g. "
                          f"jug submit --report --chain latest {chain_id}")
    raise SubmitError(f"jugfile '{args.jugfile}' not found")


def _run(args: Any) -> int:
    """The body of :func:`run`; raises SubmitError / ProfileError / SchedulerError."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import JobPlan, SubmitError

    _check_jugfile_exists(args)
    settings, sources = settings_from_args(args)
    dry_run = bool(getattr(args, "dry_run", False))
    if getattr(args, "cancel", False):
        return _cancel(settings, args.jugfile, dry_run)
    if getattr(args, "status", False):
        return _status(settings, args.jugfile)
    if getattr(args, "report", False):
        return _report(args, settings, sources)
    if getattr(args, "resume", False):
        return _resume(args, settings, sources, dry_run)
    if getattr(args, "since", None) or getattr(args, "chain", None):
        raise SubmitError("--since and --chain choose the workers of --report: add --report")
    until_done = bool(getattr(args, "until_done", False))
    if until_done and (getattr(args, "watch", False) or getattr(args, "once", False)):
        raise SubmitError("--until-done and --watch exclude each other: --watch keeps a loop "
                          "on this node, --until-done lets the workers resubmit themselves")
    pools = _declared_pools(settings, sources)
    if pools:
        return _run_pools(args, settings, sources, pools, dry_run)
    plan = JobPlan.from_settings(settings, args.jugfile, getattr(args, "jugfile_args", None))
    if (getattr(args, "watch", False) or getattr(args, "once", False)) and not dry_run:
        return _watch(args, plan)
    return _one_array(args, plan, settings, sources, dry_run, until_done)


def _one_array(args: Any, plan: Any, settings: dict, sources: dict, dry_run: bool,
               until_done: bool) -> int:
    """``jug submit`` without pools: check, then dry-run, submit or start a chain."""
    _check_stop_file(plan, dry_run)
    store = None
    if not dry_run:  # an unwritable store stops us before the jugfile check and any array
        store = plan.open_store()
        plan.check_store(store)
    summary: dict = {}
    if settings.get("check") is not False:
        summary = check_jugfile(plan)
    idle = _idle_workers_note(summary, plan.workers)
    if dry_run:
        counts = _describe_status(summary)[0]
        return _dry_run(plan, settings, sources, counts, idle, until_done)
    code = _work_left(plan, summary)
    if code is not None:
        return code
    plan.validate()  # the scheduler's own check of the script, before any array
    if idle:
        print(f"note: {idle}")
    if until_done:
        _start_chain(args, plan, store, summary)
    else:
        plan.submit(store)
    return _submitted(plan)


def _work_left(plan: Any, summary: dict) -> int | None:
    """Print the task counts; the exit code when nothing is left to run (None: work left)."""
    counts, work_left = _describe_status(summary)
    if not work_left:
        return _nothing_to_run(plan, summary, counts)
    if counts:
        print(f"tasks: {counts}")
    return None


def _declared_pools(settings: dict, sources: dict) -> list:
    """The worker pools the settings declare (none: one array as usual)."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_settings import pools_from_settings

    return pools_from_settings(settings, f"{sources.get('pools', 'pools')}: pools")


def _check_stop_file(plan: Any, dry_run: bool) -> None:
    """Workers would exit at once while the stop file exists: refuse (dry run: warn)."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError

    if os.path.exists(plan.stop_file):
        msg = (f"the stop file {plan.stop_file} exists: workers would exit at once. "
               f"Remove it first (rm {shlex.quote(plan.stop_file)})")
        if not dry_run:
            raise SubmitError(msg)
        print(f"# WARNING: {msg}")


def _nothing_to_run(plan: Any, summary: dict, counts: str) -> int:
    """Every task is finished (exit 0) or only failed ones remain (exit 1): submit nothing."""
    failed = (summary.get("total") or {}).get("failed", 0)
    if failed:
        print(f"nothing to run: the remaining {plural(failed, 'task')} of {plan.jugfile} failed "
              f"({counts}); see 'jug status', then 'jug cleanup --failed-only' to retry")
        return 1
    print(f"nothing to do: every task of {plan.jugfile} is finished ({counts})")
    return 0


def _dry_run(plan: Any, settings: dict, sources: dict, counts: str, idle: str,
             until_done: bool) -> int:
    """``--dry-run``: the merged settings, each script and its submit command; nothing else."""
    sizes = plan.sizes()
    print("# jug submit --dry-run: nothing is written or submitted")
    _print_settings(settings, sources, plan)
    if counts:
        print(f"# tasks: {counts}")
    if idle:
        print(f"# WARNING: {idle}")
    for part, size in enumerate(sizes):
        script = plan.script_path(part, len(sizes), "<time>")
        what = (f"{plural(size, 'job')} x {plan.per_job} workers, jug execute -j {plan.per_job}"
                if plan.per_job > 1 else plural(size, 'worker'))
        print(f"# ---- script {part + 1}/{len(sizes)} ({what}): {script}")
        sys.stdout.write(plan.render(size))
        print(f"# ---- submit command: {shlex.join(plan.submit_command_line(script))}")
    if until_done:
        _dry_run_planner(plan)
    return 0


def _dry_run_planner(plan: Any) -> None:
    """The planner job script of generation 1 (``--dry-run --until-done``)."""
    # start-up time: jug --help imports every command module
    from ..hpc.chain.planner import render_planner

    print("# ---- planner job of generation 1 (held until the arrays above end):")
    sys.stdout.write(render_planner(plan, 1, ["<array id>"]))


def _submitted(plan: Any) -> int:
    """Say how to follow, drain and cancel the arrays just submitted."""
    sched = plan.scheduler
    print(f"workers stop starting tasks after {sched.format_walltime(plan.budget)} "
          f"(walltime {sched.format_walltime(plan.walltime)} - margin "
          f"{sched.format_walltime(plan.margin)}); logs in {plan.log_dir}/")
    jf = shlex.quote(os.path.relpath(plan.jugfile))
    print(f"progress: jug status {jf}   drain: touch {shlex.quote(plan.stop_file)}   "
          f"cancel: jug submit --cancel {jf}")
    return 0


def _open_store(settings: dict, jugfile: str) -> Any:
    """The store of ``jugfile`` as the settings name it (SubmitError if it cannot open)."""
    # start-up time: jug --help imports every command module
    from ..backends import StoreError, default_jugdir, select_store
    from ..hpc.job import SubmitError

    jugdir = settings.get("jugdir") or default_jugdir(jugfile)
    if "://" not in str(jugdir) and jugdir != "dict_store":
        jugdir = os.path.abspath(str(jugdir))
    try:
        return select_store(jugdir)
    except StoreError as e:
        raise SubmitError(str(e))


def _status(settings: dict, jugfile: str) -> int:
    """``--status``: the chain (if any) and every recorded array with its queue state."""
    # start-up time: jug --help imports every command module
    from ..hpc.chain.records import iter_chain_lines
    from ..hpc.job import submitted_arrays
    from ..schedulers import get_scheduler

    store = _open_store(settings, jugfile)
    lines = list(iter_chain_lines(store, jugfile))
    docs = submitted_arrays(store, jugfile)
    for sched_name in sorted({d["scheduler"] for d in docs.values()}):
        mine = [d for d in docs.values() if d["scheduler"] == sched_name]
        counts = get_scheduler(sched_name, settings).query([d["job_id"] for d in mine])
        for d in sorted(mine, key=lambda d: d.get("submitted") or 0):
            c = counts[d["job_id"]]
            pool = f" (pool {d['pool']})" if d.get("pool") else ""
            k = int(d.get("workers_per_job") or 1)
            n = int(d.get("size") or 0)
            size = f"{plural(n, 'job')} x {k} workers" if k > 1 else plural(n, "worker")
            lines.append(f"{sched_name} array {d['job_id']}{pool}: {size}; "
                         f"now {c.running} running, {c.pending} pending")
    print("\n".join(lines) if lines else f"nothing submitted for {os.path.abspath(jugfile)}")
    return 0


def _loop_options(args: Any, plan: Any, **extra: Any) -> Any:
    """The loop's knobs from the command line; what is not given keeps its declared default
    (``--max-workers``: the plan's ``--workers``)."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError
    from ..hpc.watch import WatchOptions

    given = {k: getattr(args, k, None) for k in ("max_queued", "poll", "stale_after")}
    opts = WatchOptions(max_workers=int(getattr(args, "max_workers", None) or plan.workers),
                        **{k: v for k, v in given.items() if v is not None}, **extra)
    if opts.max_workers < 1 or (opts.max_queued is not None and opts.max_queued < 1):
        raise SubmitError("--max-workers and --max-queued must be at least 1")
    return opts


def _start_chain(args: Any, plan: Any, store: Any, summary: dict,
                 pools: tuple[dict, list] | None = None, opts: Any = None) -> None:
    """``--until-done``: generation 1 and its planner job (:mod:`jug.hpc.chain`); with
    ``pools`` (plans, pools) generation 1 is one poll over every pool."""
    # start-up time: jug --help imports every command module
    from ..hpc.chain.start import start, start_pools
    from ..hpc.pool_settings import max_workers

    opts = opts or _loop_options(args, plan)
    gens = getattr(args, "max_generations", None)
    if pools:
        chain = start_pools(pools[0], pools[1], store, opts, gens, summary)
        caps = {p.name: max_workers(p, opts.max_workers) for p in pools[1]}
        most = (plural(sum(caps.values()), "worker") + " ("
                + ", ".join(f"{n} {name}" for name, n in caps.items()) + ")")
    else:
        chain = start(plan, store, opts, gens, summary)
        most = plural(opts.max_workers, "worker")
    print(f"chain started: up to {plural(chain.max_generations, 'generation')} of at most "
          f"{most}; 'jug submit --status' shows it")


def _resume(args: Any, settings: dict, sources: dict, dry_run: bool) -> int:
    """``--resume``: the chain of this jugfile again, with the settings in its record."""
    # start-up time: jug --help imports every command module
    from ..hpc.chain.records import Chain
    from ..hpc.chain.start import describe_resume, recorded_plans
    from ..hpc.job import SubmitError, split_password
    from ..hpc.watch import WatchOptions

    given = sorted(k for k, src in sources.items() if src == "command line" and k != "jugdir")
    if given:
        raise SubmitError(f"--resume starts the chain again with the settings it was started "
                          f"with: drop {', '.join('--' + k.replace('_', '-') for k in given)} "
                          f"(or start a new chain with jug submit --until-done)")
    store = _open_store(settings, args.jugfile)
    chain = Chain.load(store, args.jugfile)
    if chain is None:
        raise SubmitError(f"no --until-done chain of {args.jugfile} is recorded in "
                          f"{store.description}: start one with jug submit --until-done "
                          f"(or give the --jugdir it used)")
    main, plans, pools = recorded_plans(chain, split_password(str(settings.get("jugdir")
                                                                   or ""))[1])
    print(describe_resume(chain, main), flush=True)
    opts = WatchOptions(max_workers=int(getattr(args, "max_workers", None) or chain.max_workers),
                        max_queued=getattr(args, "max_queued", None) or chain.max_queued,
                        stale_after=chain.stale_after)
    if dry_run:
        shown = {k: "chain record" for k in main.settings}
        if plans:
            return _dry_run_pools(plans, pools or [], {**shown, "pools": "chain record"},
                                  (opts.max_workers, "chain record"), {}, True)
        return _dry_run(main, main.settings, shown, "", "", True)
    _check_stop_file(main, False)
    main.check_store(store)
    summary = check_jugfile(main)
    code = _work_left(main, summary)
    if code is not None:
        return code
    _start_chain(args, main, store, summary, (plans, pools) if plans else None, opts)
    return _submitted(main)


def _watch_options(args: Any, plan: Any) -> Any:
    """The loop's options for ``--watch`` and pools (``--once``, a positive ``--poll``)."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError

    opts = _loop_options(args, plan, once=bool(getattr(args, "once", False)))
    if opts.poll <= 0:
        raise SubmitError("--poll must be a positive number of seconds")
    return opts


def _watch(args: Any, plan: Any) -> int:
    """``--watch``: hand over to the resubmit loop (:mod:`jug.hpc.watch`)."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError
    from ..hpc.watch import run_watch
    from ..jugfile import JugfileError

    opts = _watch_options(args, plan)
    store = plan.open_store()
    plan.validate()
    try:
        return run_watch(plan, store, opts)
    except JugfileError as e:
        raise SubmitError(f"{e}\n(nothing more was submitted)")


def _run_pools(args: Any, settings: dict, sources: dict, pools: list, dry_run: bool) -> int:
    """``jug submit`` with pools: one array per pool, sized from that pool's tasks."""
    # start-up time: jug --help imports every command module
    from ..hpc.job import SubmitError
    from ..hpc.pool_watch import pool_plans, run_pools
    from ..jugfile import JugfileError

    plans = pool_plans(settings, pools, args.jugfile, getattr(args, "jugfile_args", None))
    main = plans["default"]
    until_done = bool(getattr(args, "until_done", False))
    if dry_run:
        return _dry_run_pools(plans, pools, sources, _cap(args, main, sources), settings,
                              until_done)
    _check_stop_file(main, dry_run)
    _validate_pools(plans, pools, _cap(args, main, sources)[0])
    if until_done:
        return _pools_chain(args, settings, plans, pools)
    opts = _watch_options(args, main)
    opts.once = opts.once or not getattr(args, "watch", False)
    store = main.open_store()
    main.check_store(store)
    try:
        return run_pools(plans, pools, store, opts)
    except JugfileError as e:
        raise SubmitError(f"{e}\n(nothing more was submitted)")


def _validate_pools(plans: dict, pools: list, cap: int) -> None:
    """Let the scheduler check every pool's script before anything is submitted: a pool
    whose request the cluster cannot meet (a GPU pool without GRES) must stop jug submit
    now, not fail when its first array is due, hours into the run."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_settings import max_workers

    for pool in pools:
        plan = plans[pool.name]
        plan.validate(plan.sizes(max_workers(pool, cap))[0])


def _cap(args: Any, main: Any, sources: dict) -> tuple[int, str]:
    """The worker cap of a pool without its own (``--max-workers``, else ``--workers``) and
    where it comes from."""
    if getattr(args, "max_workers", None):
        return int(args.max_workers), f"--max-workers, {sources.get('max_workers', 'command line')}"
    return main.workers, f"--workers, {sources.get('workers', 'built-in')}"


def _pools_chain(args: Any, settings: dict, plans: dict, pools: list) -> int:
    """``--until-done`` with pools: generation 1 is one poll over every pool."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_watch import describe_pools

    main = plans["default"]
    store = main.open_store()
    main.check_store(store)
    summary = check_jugfile(main) if settings.get("check") is not False else {}
    code = _work_left(main, summary)
    if code is not None:
        return code
    for line in describe_pools(pools, plans):
        print(line, flush=True)
    _start_chain(args, main, store, summary, (plans, pools))
    return _submitted(main)


def _dry_run_pools(plans: dict, pools: list, sources: dict, cap: tuple[int, str],
                   settings: dict, until_done: bool = False) -> int:
    """``--dry-run`` with pools: each pool's settings, script and submit command (and the
    planner job of a ``--until-done`` chain, held on every pool's arrays)."""
    # start-up time: jug --help imports every command module
    from ..hpc.pool_settings import max_workers
    from ..hpc.pool_watch import describe_pools

    print("# jug submit --dry-run: nothing is written or submitted")
    for line in describe_pools(pools, plans):
        print(f"# {line}")
    for pool in pools:
        plan = plans[pool.name]
        size = max_workers(pool, cap[0])
        print(f"# ==== pool {pool.name}: one array of up to {plural(size, 'worker')}, sized at "
              f"submission from the pool's ready and soon-ready tasks")
        mine, shown = _pool_sources(sources, settings, pool, cap)
        _print_settings(plan.settings, mine, plan, shown)
        script = plan.script_path(0, 1, "<time>")
        print(f"# ---- script ({plural(size, 'worker')}): {script}")
        sys.stdout.write(plan.render(size))
        print(f"# ---- submit command: {shlex.join(plan.submit_command_line(script))}")
    if until_done:
        _dry_run_planner(plans["default"])
    return 0


def add_arguments(parser: Any) -> None:
    """Give repeatable options a real default: append actions cannot extend the unset marker;
    the report's scope (command line only: an optional value, which Option cannot express)."""
    for action in parser._actions:
        if action.dest in ("directive", "prologue", "pool"):
            action.default = None
    parser.add_argument("--since", metavar="WHEN", default=None, help="With --report: only "
                        "workers that started since WHEN, a duration back from now (2h, 90m, "
                        "1d12h) or a local ISO date or time (2026-12-07T14:30)")
    parser.add_argument("--chain", metavar="ID", default=None,
                        help="With --report: only the workers of the --until-done chain "
                        "recorded for the jugfile: 'latest', or a job id of one of its arrays "
                        "or planner jobs")
