"""barrier(), bvalue() and barriers inside compound tasks, driven through real ``jug execute`` runs."""

from __future__ import annotations

import collections
import time
from pathlib import Path

from support import (
    counts,
    execute,
    jug_eval,
    lines,
    logged_jugfile,
    run_jug,
    start_execute,
    status,
    write_jugfile,
)

IMPORTS = """
import os
from jug import TaskGenerator, barrier, bvalue, value
"""


def logged(body: str) -> str:
    """A jugfile: IMPORTS, the ``log(word)`` side-effect helper, then ``body``."""
    return logged_jugfile(IMPORTS, body)


TWO_BARRIERS = logged("""
@TaskGenerator
def first(i):
    log(f"first-{i}")
    return i * 10

@TaskGenerator
def second(x):
    log(f"second-{x}")
    return x + 1

@TaskGenerator
def third(xs):
    log("third")
    return sum(xs)

a = [first(i) for i in range(4)]
barrier()
b = [second(x) for x in value(a)]   # only definable once a has run
barrier()
total = third(value(b))
""")


def test_status_before_execution_stops_at_first_barrier(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TWO_BARRIERS)
    st = status(jf, jugdir)
    assert st["incomplete"] is True
    assert counts(st, "jugfile.first")["ready"] == 4
    assert "jugfile.second" not in st["tasks"] and "jugfile.third" not in st["tasks"]
    text = run_jug("status", jf, "--jugdir", jugdir, check=True).stdout
    assert "barrier" in text and "more tasks may follow" in text
    assert "barrier" in run_jug("status", "--short", jf, "--jugdir", jugdir, check=True).stdout
    assert not (tmp_path / "log").exists()  # status runs nothing


def test_one_execute_passes_every_barrier(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TWO_BARRIERS)
    execute(jf, jugdir)
    log = lines(tmp_path / "log")
    assert sorted(log) == sorted([f"first-{i}" for i in range(4)]
                                 + [f"second-{i * 10}" for i in range(4)] + ["third"])
    assert log.index("third") == len(log) - 1  # definition and execution order respected
    st = status(jf, jugdir)
    assert st["incomplete"] is False
    assert st["total"]["finished"] == 9 and sum(st["total"].values()) == 9
    assert jug_eval(jf, jugdir, "out = value(ns['total'])") == sum(i * 10 + 1 for i in range(4))
    # a second execute has nothing left to do
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 9


def test_bvalue_checks_only_its_argument(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def good(i):
        log("good")
        return i + 1

    @TaskGenerator
    def broken(i):
        log("broken")
        raise RuntimeError("this task always fails")

    @TaskGenerator
    def after(x):
        log(f"after-{x}")
        return x * 2

    g = good(20)
    b = broken(0)
    v = bvalue(g)           # a plain barrier() here could never pass: 'broken' fails
    assert v == 21, v
    c = after(v)
    """))
    st = status(jf, jugdir)
    assert st["incomplete"] is True and "jugfile.after" not in st["tasks"]
    p = execute(jf, jugdir, "--keep-going", check=False)
    assert p.returncode != 0  # 'broken' failed...
    assert "after-21" in lines(tmp_path / "log")  # ...but bvalue(g) let 'after' be defined and run
    st = status(jf, jugdir)
    assert counts(st, "jugfile.after")["finished"] == 1
    assert counts(st, "jugfile.broken")["failed"] == 1
    assert jug_eval(jf, jugdir, "out = value(ns['c'])") == 42


def test_bvalue_of_a_structure_and_a_tasklet(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def pair(i):
        return (i, i * i)

    @TaskGenerator
    def combine(a, b):
        log("combine")
        return a + b

    p = pair(7)
    both = bvalue({"first": p[0], "all": [pair(2), p]})
    c = combine(both["first"], both["all"][0][1])
    """))
    assert status(jf, jugdir)["incomplete"] is True
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["combine"]
    assert jug_eval(jf, jugdir, "out = value(ns['c'])") == 7 + 4


def test_barrier_inside_compound_task(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    from jug.compound import CompoundTaskGenerator

    @TaskGenerator
    def square(i):
        log(f"square-{i}")
        return i * i

    @TaskGenerator
    def total(xs):
        log("total")
        return sum(xs)

    @CompoundTaskGenerator
    def pipeline(n):
        log("build")
        squares = [square(i) for i in range(n)]
        barrier()                       # the inner graph depends on inner results
        big = [x for x in value(squares) if x > 5]
        return total([square(x) for x in big])

    result = pipeline(5)
    """))
    st = status(jf, jugdir)
    assert st["incomplete"] is True and counts(st, "jugfile.square")["ready"] == 5
    execute(jf, jugdir)  # one call passes the barrier inside the compound task
    expected = sum(x * x for x in (i * i for i in range(5)) if x > 5)
    assert jug_eval(jf, jugdir, "out = value(ns['result'])") == expected
    builds = lines(tmp_path / "log").count("build")
    st = status(jf, jugdir)
    assert st["incomplete"] is False and st["total"]["finished"] >= 1
    assert st["total"]["ready"] == st["total"]["waiting"] == 0
    # once stored, loading does not build the inner graph again
    assert lines(tmp_path / "log").count("build") == builds
    assert "jugfile.square" not in st["tasks"]
    assert counts(st, "jugfile.pipeline")["finished"] == 1


def test_three_concurrent_workers_run_each_task_once(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    import time

    @TaskGenerator
    def stage1(i):
        log(f"s1-{i}")
        time.sleep(0.05)
        return i

    @TaskGenerator
    def stage2(x):
        log(f"s2-{x}")
        time.sleep(0.05)
        return x * 2

    @TaskGenerator
    def final(xs):
        log("final")
        return sum(xs)

    one = [stage1(i) for i in range(12)]
    barrier()
    two = [stage2(x) for x in value(one)]
    result = final(two)
    """))
    workers = [start_execute(jf, jugdir) for _ in range(3)]
    outs = [w.communicate(timeout=120) for w in workers]
    for w, (_out, err) in zip(workers, outs):
        assert w.returncode == 0, err
    seen = collections.Counter(lines(tmp_path / "log"))
    expected = [f"s1-{i}" for i in range(12)] + [f"s2-{i}" for i in range(12)] + ["final"]
    assert sorted(seen) == sorted(expected)
    assert set(seen.values()) == {1}, seen  # every task ran exactly once
    assert jug_eval(jf, jugdir, "out = value(ns['result'])") == 2 * sum(range(12))


def test_barrier_status_while_first_stage_partially_done(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, TWO_BARRIERS)
    env = {"JUG_MAX_TASKS": "2"}
    execute(jf, jugdir, env=env)
    st = status(jf, jugdir)
    assert st["incomplete"] is True
    assert counts(st, "jugfile.first") == {**counts(st, "jugfile.first"), "finished": 2,
                                           "ready": 2}
    start = time.monotonic()
    execute(jf, jugdir)
    assert time.monotonic() - start < 60
    assert status(jf, jugdir)["total"]["finished"] == 9
