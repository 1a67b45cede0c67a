"""A pipeline with mixed resources: many one-core steps, a few GPU steps, more one-core steps.

``prepare`` (one core each) feeds ``train`` (a GPU each), which feeds ``evaluate`` (one core
each).  With the pools of ``jug-submit.yaml``, ``jug submit --watch`` runs ``train`` in an
array of GPU workers submitted only once its inputs are ready, and everything else in an
array of one-core workers; see README.md.
"""

import numpy as np

from jug import TaskGenerator


@TaskGenerator
def prepare(seed: int) -> np.ndarray:
    """One shard of features (one core, seconds)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2000, 16))


@TaskGenerator
def train(shards: list, reg: float) -> np.ndarray:
    """Ridge-regression weights on all shards (the step that wants a GPU on a real site)."""
    x = np.concatenate(shards)
    y = x @ np.arange(16.0) + np.random.default_rng(0).normal(size=len(x))
    return np.linalg.solve(x.T @ x + reg * np.eye(16), x.T @ y)


@TaskGenerator
def evaluate(weights: np.ndarray, seed: int) -> float:
    """Error of one model on a fresh shard (one core)."""
    x = np.random.default_rng(1000 + seed).normal(size=(2000, 16))
    return float(np.mean((x @ weights - x @ np.arange(16.0)) ** 2))


shards = [prepare(seed) for seed in range(40)]
models = [train(shards, reg) for reg in (0.1, 10.0)]
scores = [evaluate(models[i % 2], i) for i in range(20)]
