"""Right-sizing (``jug submit --report``): what each pool asked for against what its tasks used.

Per pool: memory asked against the largest peak of its tasks, walltime asked against the
longest task, CPUs asked against the CPU seconds its tasks used per wall second; one
suggestion line per pool.  Suggestions keep headroom: memory 25% above the largest peak
(rounded up to a whole GiB from 1 GiB on, else to 100 MB), CPUs rounded up from the cores
used.  Memory is only suggested lower when that saves a quarter of what was asked: a request
close to the peak is kept.  Pure: figures in, lines out (the figures come from
:mod:`jug.state.usage`, the requests from the merged settings of each pool).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..state.membership import DEFAULT, Pool, assign
from ..state.timings import format_duration
from ..state.usage import KIB, TaskResources, format_bytes, resource_table
from .job import SubmitError, parse_duration, parse_memory

HEADROOM = 1.25
MIB = KIB * KIB


@dataclass(frozen=True)
class PoolUse:
    """One pool's request and what its tasks used (None: not asked / not measured)."""

    pool: str
    mem_asked: int | None  # bytes
    peak: int | None  # bytes, largest peak of any task run of the pool
    walltime: int | None  # seconds
    longest: float | None  # seconds, longest task run
    cpus: int
    cores_used: float | None  # CPU seconds per wall second over the pool's runs
    runs: int


def for_store(store: Any, names: Any, pools: Sequence[Pool], settings: Mapping[str, Any],
              jugfile: str | None = None) -> list[PoolUse]:
    """The pools' uses from ``store``'s timings documents, for the task ``names`` given; the
    walltime asked is the one the pool's latest array of ``jugfile`` was submitted with."""
    from ..state.activity import timing_docs  # start-up time: only for --report
    from .job import submitted_arrays

    names = set(names)
    table = {n: r for n, r in resource_table(timing_docs(store)).items() if n in names}
    walltimes: dict[str, int] = {}
    if jugfile:
        arrays = sorted(submitted_arrays(store, os.path.abspath(jugfile)).values(),
                        key=lambda d: d.get("submitted") or 0)
        for d in arrays:
            if d.get("walltime"):
                walltimes[str(d.get("pool") or DEFAULT)] = int(d["walltime"])
    return pool_uses(table, pools, settings, walltimes)


def pool_uses(resources: Mapping[str, TaskResources], pools: Sequence[Pool],
              settings: Mapping[str, Any], walltimes: Mapping[str, int] | None = None
              ) -> list[PoolUse]:
    """The :class:`PoolUse` of every pool that has measured runs (``walltimes``: what each
    pool's arrays were submitted with, over the settings' walltime)."""
    by_name = assign(resources, pools)
    declared = {p.name: p for p in pools}
    out = []
    for name in sorted(set(by_name.values())):
        rs = [r for n, r in resources.items() if by_name[n] == name]
        merged = {**settings, **(declared[name].settings if name in declared else {})}
        cpu, wall = sum(r.cpu_seconds for r in rs), sum(r.cpu_wall for r in rs)
        peaks = [r.peak_max_kib for r in rs if r.peak_max_kib is not None]
        longest = [r.wall_max for r in rs if r.wall_max is not None]
        out.append(PoolUse(
            name, _mem(merged.get("mem")), max(peaks) * KIB if peaks else None,
            (walltimes or {}).get(name) or _walltime(merged.get("walltime")),
            max(longest) if longest else None,
            int(merged.get("cpus_per_task") or 1), cpu / wall if wall > 0 else None,
            sum(r.runs for r in rs)))
    return out


def _mem(value: Any) -> int | None:
    try:
        return parse_memory(value) * MIB if value not in (None, "") else None
    except SubmitError:
        return None


def _walltime(value: Any) -> int | None:
    try:
        return parse_duration(value, "walltime") if value not in (None, "") else None
    except SubmitError:
        return None


def mem_option(peak: int) -> str:
    """``--mem`` value with headroom over ``peak`` bytes: ``4G``, ``700M``."""
    want = peak * HEADROOM
    if want >= KIB ** 3:
        return f"{math.ceil(want / KIB ** 3)}G"
    return f"{max(100, math.ceil(want / MIB / 100) * 100)}M"


def suggestion(u: PoolUse) -> str:
    """One line: what was asked, what was used, what would do."""
    facts, advice = [], []
    if u.peak is not None:
        if u.mem_asked is None:
            facts.append(f"peak {format_bytes(u.peak)} (no --mem asked)")
        else:
            facts.append(f"peak {format_bytes(u.peak)} of {format_bytes(u.mem_asked)} asked")
            want = parse_memory(mem_option(u.peak)) * MIB
            if want <= 0.75 * u.mem_asked or u.peak > 0.9 * u.mem_asked:
                advice.append(f"--mem {mem_option(u.peak)} would do")
    if u.longest is not None and u.walltime:
        facts.append(f"longest task {format_duration(u.longest)} of "
                     f"{format_duration(u.walltime)} walltime")
        if u.longest > 0.9 * u.walltime:
            advice.append(f"--walltime {format_duration(u.longest * 2)} or more would fit "
                          "it (the margin and start-up need time too)")
    if u.cores_used is not None:
        facts.append(f"{u.cores_used:.1f} of {u.cpus} CPU{'s' if u.cpus > 1 else ''} busy")
        need = max(1, math.ceil(u.cores_used * 1.1))
        if need < u.cpus and u.cores_used < 0.6 * u.cpus:
            advice.append(f"--cpus {need} would do")
    if not facts:
        return f"{u.pool}: no measured task runs yet"
    tail = "; ".join(advice) if advice else "sized about right"
    return f"{u.pool}: {', '.join(facts)}: {tail}"


def format_sizing(uses: Sequence[PoolUse]) -> str:
    """The right-sizing part of ``jug submit --report``."""
    if not uses:
        return "right-sizing: no task has run yet"
    lines = ["right-sizing (what was asked against what the tasks used)"]
    lines += [suggestion(u) for u in uses]
    return "\n".join(lines)


def sizing_json(uses: Sequence[PoolUse]) -> dict[str, dict[str, Any]]:
    """``{pool: figures and the suggestion}``."""
    return {u.pool: {**u.__dict__, "suggestion": suggestion(u)} for u in uses}

