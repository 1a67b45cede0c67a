"""Map-reduce over Tasks: ``map``, ``currymap``, ``reduce`` and ``mapreduce``.

Work is grouped so that one Task handles ``map_step`` inputs (a map block) or ``reduce_step``
partial results (a reduce level), which keeps the number of Tasks (and so store round trips
and locks) proportional to ``len(inputs) / step`` instead of ``len(inputs)``.

Results equal the plain-Python computation: blocks keep the input order and every reduction
folds left to right, so an associative reducer gives ``functools.reduce(reducer, map(mapper,
inputs))`` exactly.  With empty inputs, ``map`` gives ``[]`` and ``reduce``/``mapreduce`` give a
Task whose value is ``None`` (there is nothing to fold; plain ``functools.reduce`` would raise).

Task names say what they do: ``jug.mapreduce._jug_map`` (a map block),
``jug.mapreduce._jug_map_curry`` (a ``currymap`` block), ``jug.mapreduce._jug_map_reduce``
(map a block then fold it) and ``jug.mapreduce._jug_reduce`` (fold partial results).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Sequence

from .task import Task, TaskFunctionError, TaskGenerator, TaskLike

__all__ = ["map", "currymap", "reduce", "mapreduce"]


def _get_function(f: Any) -> Callable:
    """The plain function behind ``f`` (a TaskGenerator is unwrapped so it computes, not builds)."""
    if isinstance(f, TaskGenerator):
        f = f.f
    if not callable(f):
        raise TaskFunctionError(f"jug.mapreduce needs a function, got {f!r}")
    if getattr(f, "__name__", None) == "<lambda>":
        raise TaskFunctionError(
            "jug.mapreduce cannot use a lambda: its name is not stable, so results could not be "
            "found again. Define it with 'def name(...):' at module level.")
    return f


def _check_step(name: str, step: int) -> int:
    """Validate a block size (a positive integer), so a bad value fails at once with its name."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"{name} must be a positive integer, got {step!r}")
    return step


def _break_up(seq: Sequence, step: int) -> Iterator[list]:
    """Consecutive blocks of ``step`` elements (the last may be shorter), in order."""
    for i in range(0, len(seq), step):
        yield list(seq[i:i + step])


def _fold(reducer: Callable, values: list) -> Any:
    """Left fold of ``values`` with ``reducer``; None when there is nothing to fold."""
    if not values:
        return None
    return functools.reduce(reducer, values)


def _jug_map(mapper: Callable, block: list) -> list:
    """Task body of a map block: ``[mapper(x) for x in block]``."""
    return [mapper(x) for x in block]


def _jug_map_curry(mapper: Callable, block: list) -> list:
    """Task body of a currymap block: ``[mapper(*args) for args in block]``."""
    return [mapper(*args) for args in block]


def _jug_map_reduce(reducer: Callable, mapper: Callable, block: list) -> Any:
    """Task body of a mapreduce block: map the block, then fold it (one Task, one result)."""
    return _fold(reducer, [mapper(x) for x in block])


def _jug_reduce(reducer: Callable, partials: list) -> Any:
    """Task body of a reduce level: fold partial results (or inputs) left to right."""
    return _fold(reducer, partials)


def _blocked_map(body: Callable, mapper: Any, sequence: Sequence, map_step: int | None) -> list:
    """One Task per block of ``map_step`` elements; returns one Tasklet per element, in order.

    With ``map_step`` 1 (or None) each element gets a Task of ``mapper`` itself (as Jug does).
    """
    f = _get_function(mapper)
    if map_step is None:
        map_step = 1
    _check_step("map_step", map_step)
    seq = sequence if isinstance(sequence, Sequence) else list(sequence)
    if map_step == 1:  # one Task per element, named after the mapper itself
        if body is _jug_map_curry:
            return [Task(f, *args) for args in seq]
        return [Task(f, x) for x in seq]
    out: list = []
    for block in _break_up(seq, map_step):
        t = Task(body, f, block)
        out.extend(t[j] for j in range(len(block)))
    return out


def map(mapper: Callable, sequence: Sequence, map_step: int | None = 4) -> list:
    """``[mapper(s) for s in sequence]`` as Tasks grouped ``map_step`` elements per Task.

    Returns a list with one element per input: a Tasklet of its block's Task, usable as a
    dependency of other Tasks and resolved by ``value()``.
    """
    return _blocked_map(_jug_map, mapper, sequence, map_step)


def currymap(mapper: Callable, sequence: Sequence, map_step: int | None = 4) -> list:
    """Like :func:`map` for a mapper taking several arguments: ``[mapper(*s) for s in sequence]``."""
    return _blocked_map(_jug_map_curry, mapper, sequence, map_step)


def reduce(reducer: Callable, inputs: Sequence, reduce_step: int = 8) -> Task:
    """A Task whose value is ``functools.reduce(reducer, value(inputs))``, built as a tree.

    Each Task folds at most ``reduce_step`` inputs; levels repeat until one Task is left.
    ``inputs`` may also be one Task whose value is the sequence (folded by a single Task).
    """
    f = _get_function(reducer)
    _check_step("reduce_step", reduce_step)
    if reduce_step < 2:
        reduce_step = 2  # a fold of one element per Task would never shrink the level
    if isinstance(inputs, TaskLike):  # one task whose value is the whole sequence
        return Task(_jug_reduce, f, inputs)
    level = list(inputs)
    while len(level) > reduce_step:
        level = [Task(_jug_reduce, f, block) for block in _break_up(level, reduce_step)]
    return Task(_jug_reduce, f, level)


def mapreduce(reducer: Callable, mapper: Callable, inputs: Sequence, map_step: int | None = 4,
              reduce_step: int = 8) -> Task:
    """A Task whose value is ``functools.reduce(reducer, map(mapper, inputs))``.

    Each map Task maps ``map_step`` inputs and folds them at once; the partial results are
    then folded by :func:`reduce` with ``reduce_step``.  ``reducer`` should be associative.
    """
    r = _get_function(reducer)
    m = _get_function(mapper)
    _check_step("map_step", 1 if map_step is None else map_step)
    seq = inputs if isinstance(inputs, Sequence) else list(inputs)
    partials = [Task(_jug_map_reduce, r, m, block) for block in _break_up(seq, map_step or 1)]
    return reduce(r, partials, reduce_step)
