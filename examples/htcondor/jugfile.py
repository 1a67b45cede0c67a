"""A parameter sweep for a batch cluster: 200 independent simulations, then one summary.

Each ``simulate`` task is one random-walk experiment (a few seconds of numpy work); ``summarize``
waits for all of them.  Run it with ``jug submit`` (see README.md) or locally with
``jug execute jugfile.py``.
"""

import numpy as np

from jug import TaskGenerator


@TaskGenerator
def simulate(seed: int, steps: int = 2_000_000) -> float:
    """Mean squared displacement of one random walk."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.choice([-1, 1], size=steps))
    return float(np.mean(walk.astype(np.float64) ** 2))


@TaskGenerator
def summarize(values: list) -> dict:
    """Mean and spread over all simulations."""
    arr = np.asarray(values)
    return {"n": len(arr), "mean": float(arr.mean()), "std": float(arr.std())}


results = [simulate(seed) for seed in range(200)]
summary = summarize(results)
