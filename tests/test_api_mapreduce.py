"""jug.mapreduce (map, currymap, reduce, mapreduce) through real ``jug execute`` runs."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from support import counts, execute, jug_eval, lines, status, write_jugfile

FUNCS = """
import os
from jug import TaskGenerator, Task, value
from jug import mapreduce
from jug.mapreduce import currymap
LOG = os.path.join(os.path.dirname(__file__), "log")

def sq(x):
    return x * x

def add(a, b):
    return a + b

def concat(a, b):          # associative but not commutative: order matters
    return a + b

def as_text(x):
    return f"<{x}>"

def power(base, exp):
    return base ** exp

def logged_sq(x):
    with open(LOG, "a") as f:
        f.write(f"{x}\\n")
    return x * x
"""


def test_mapreduce_over_10000_inputs(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, FUNCS + """
total = mapreduce.mapreduce(add, sq, list(range(10000)))
text = mapreduce.mapreduce(concat, as_text, range(37), map_step=5, reduce_step=3)
""")
    st = status(jf, jugdir)
    assert counts(st, "jug.mapreduce._jug_map_reduce")["ready"] == 2500 + 8  # blocks of 4 / 5
    assert counts(st, "jug.mapreduce._jug_reduce")["waiting"] > 0
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, "out = [value(ns['total']), value(ns['text'])]")
    assert out[0] == functools.reduce(lambda a, b: a + b, map(lambda x: x * x, range(10000)))
    assert out[1] == "".join(f"<{x}>" for x in range(37))
    st = status(jf, jugdir)
    assert st["total"]["finished"] == sum(st["total"].values())


def test_empty_inputs(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, FUNCS + """
m = mapreduce.map(sq, [])
c = currymap(power, [])
r = mapreduce.reduce(add, [])
mr = mapreduce.mapreduce(add, sq, [])
""")
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, "out = [value(ns['m']), value(ns['c']), value(ns['r']), value(ns['mr'])]")
    assert out == [[], [], None, None]


def test_map_blocks_and_elements_are_dependencies(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, FUNCS + """
@TaskGenerator
def use(x, y):
    return (x, y)

m = mapreduce.map(logged_sq, list(range(10)), map_step=3)
assert len(m) == 10
u = use(m[5], m[-1])
one_each = mapreduce.map(sq, range(3), map_step=1)
""")
    st = status(jf, jugdir)
    assert counts(st, "jug.mapreduce._jug_map")["ready"] == 4  # ceil(10/3) blocks
    assert counts(st, "jugfile.sq")["ready"] == 3  # map_step=1: plain Tasks of the mapper
    assert counts(st, "jugfile.use")["waiting"] == 1  # elements are real dependencies
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, "out = [value(ns['m']), value(ns['u']), value(ns['one_each'])]")
    assert out == [[x * x for x in range(10)], [25, 81], [0, 1, 4]]
    assert sorted(map(int, lines(tmp_path / "log"))) == list(range(10))  # each mapped once


def test_currymap_and_reduce(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, FUNCS + """
pairs = [(b, e) for b in range(1, 5) for e in range(3)]
powers = currymap(power, pairs, map_step=5)
plain = mapreduce.reduce(add, list(range(100)), reduce_step=3)
of_tasks = mapreduce.reduce(add, powers, reduce_step=4)
single = mapreduce.reduce(add, [7])
words = mapreduce.reduce(concat, [str(i) for i in range(30)], reduce_step=4)

@TaskGenerator
def listing(n):
    return list(range(n))

whole = mapreduce.reduce(add, listing(10))
""")
    st = status(jf, jugdir)
    assert counts(st, "jug.mapreduce._jug_map_curry")["ready"] == 3  # 12 pairs / 5 per block
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, """
    out = [value(ns['powers']), value(ns['plain']), value(ns['of_tasks']), value(ns['single']),
           value(ns['words']), value(ns['whole'])]
    """)
    pairs = [(b, e) for b in range(1, 5) for e in range(3)]
    assert out[0] == [b ** e for b, e in pairs]
    assert out[1] == sum(range(100))
    assert out[2] == sum(b ** e for b, e in pairs)
    assert out[3] == 7
    assert out[4] == "".join(str(i) for i in range(30))
    assert out[5] == 45


def test_task_generator_mapper_and_task_inputs(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, FUNCS + """
@TaskGenerator
def tsq(x):
    return x * x

@TaskGenerator
def make(i):
    return i + 1

inputs = [make(i) for i in range(9)]          # inputs may be Tasks themselves
squares = mapreduce.map(tsq, inputs, map_step=2)
total = mapreduce.mapreduce(add, tsq, inputs, map_step=2, reduce_step=2)
""")
    st = status(jf, jugdir)
    assert counts(st, "jug.mapreduce._jug_map")["waiting"] == 5
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, "out = [value(ns['squares']), value(ns['total'])]")
    assert out == [[(i + 1) ** 2 for i in range(9)], sum((i + 1) ** 2 for i in range(9))]


def test_bad_arguments_fail_clearly() -> None:
    from jug import mapreduce
    from jug.task import TaskError, alltasks

    n = len(alltasks)
    try:
        with pytest.raises(TaskError, match="lambda") as e:
            mapreduce.map(lambda x: x, [1, 2])
        assert isinstance(e.value, ValueError)  # as Task(lambda): what Jug raises
        with pytest.raises(ValueError, match="map_step"):
            mapreduce.map(abs, [1, 2], map_step=0)
        with pytest.raises(ValueError, match="reduce_step"):
            mapreduce.reduce(max, [1, 2], reduce_step=0)
    finally:
        del alltasks[n:]
