"""The bounds of a chain: how many generations it may run (from the recorded run times) and
why new workers must not be submitted (generation limit, a generation that finished no task).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

from ..settings import default
from .records import DEFAULT_GENERATIONS, HARD_GENERATIONS, Chain, resume_command, short_id


def default_generations(remaining: Mapping[str, int], typical: Callable[[str], float | None],
                        workers: int, budget: float) -> int:
    """Generations the recorded run times need, twice over plus two (the default limit).

    Without a recorded run time for every remaining task name: :data:`DEFAULT_GENERATIONS`.
    """
    total = 0.0
    for name, count in remaining.items():
        secs = typical(name)
        if count and secs is None:
            return DEFAULT_GENERATIONS
        total += count * (secs or 0.0)
    needed = math.ceil(total / max(1.0, workers * budget))
    return max(3, min(HARD_GENERATIONS, 2 * needed + 2))


def bound_reason(chain: Chain, after: int, finished_now: int, pool: str | None = None,
                 supplying: Sequence[str] = ()) -> str | None:
    """Why new workers (of ``pool``) after generation ``after`` must not be submitted, or
    None (they may).  ``finished_now`` counts the pool's tasks; the progress check judges
    the pool's arrays of generation ``after`` only once none of them (short ids in
    ``supplying``) still has workers to give."""
    if len(chain.generations) >= chain.max_generations:
        return (f"generation limit reached: {len(chain.generations)} generation(s) ran "
                f"(--max-generations {chain.max_generations})")
    prev = next((g for g in chain.generations if g.n == after), None)
    mine = prev.arrays_of(pool) if prev else []
    if not mine or any(short_id(a) in supplying for a in mine):
        return None
    before = prev.pool_finished.get(pool, 0) if pool else prev.finished_before
    if finished_now <= before:
        log_dir = chain.settings.get("log_dir") or default("log_dir")
        of_pool = f" of pool {pool}" if pool else ""
        return (f"generation {prev.n} (array(s) {', '.join(mine)}) finished no task{of_pool}: "
                f"see the worker logs in {log_dir} and 'jug status'; after a fix: "
                f"{resume_command(chain)}")
    return None
