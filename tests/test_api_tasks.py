"""CachedFunction, CompoundTask, Tasklets, iteratetask and deep chains, through real jugfiles."""

from __future__ import annotations

import time
from pathlib import Path

from support import (
    counts,
    execute,
    jug_eval,
    lines,
    logged_jugfile,
    run_jug,
    status,
    write_jugfile,
)

IMPORTS = """
import os
from jug import Task, TaskGenerator, CachedFunction, CompoundTask, CompoundTaskGenerator
from jug import barrier, bvalue, value, iteratetask
from jug.task import Tasklet
"""


def logged(body: str) -> str:
    """A jugfile: IMPORTS, the ``log(word)`` side-effect helper, then ``body``."""
    return logged_jugfile(IMPORTS, body)


def test_cached_function_runs_once_across_loads(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    def expensive(n, scale=1):
        log("expensive")
        return [i * scale for i in range(n)]

    @TaskGenerator
    def double(x):
        return 2 * x

    data = CachedFunction(expensive, 5, scale=3)
    assert isinstance(data, list), type(data)     # a plain value, usable at load time
    doubled = [double(x) for x in data]
    """))
    st = status(jf, jugdir)  # first load computes and stores it
    assert lines(tmp_path / "log") == ["expensive"]
    assert counts(st, "jugfile.double")["ready"] == 5
    status(jf, jugdir)
    execute(jf, jugdir)
    assert jug_eval(jf, jugdir, "out = [ns['data'], value(ns['doubled'])]") == [
        [0, 3, 6, 9, 12], [0, 6, 12, 18, 24]]
    assert lines(tmp_path / "log") == ["expensive"]  # later loads never call f again


def test_cached_function_with_task_argument_needs_barrier(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def base():
        return 10

    def plus(x, y):
        log("plus")
        return x + y

    b = base()
    barrier()
    s = CachedFunction(plus, b, 5)
    @TaskGenerator
    def show(v):
        return v * 2
    r = show(s)
    """))
    execute(jf, jugdir)
    assert jug_eval(jf, jugdir, "out = [ns['s'], value(ns['r'])]") == [15, 30]
    assert lines(tmp_path / "log") == ["plus"]


COMPOUND = """
@TaskGenerator
def square(i):
    log(f"square-{i}")
    return i * i

@TaskGenerator
def total(xs):
    return sum(xs)

def build(n):
    log("build")
    return total([square(i) for i in range(n)])

@CompoundTaskGenerator
def build_gen(n, offset=0):
    log("build_gen")
    return total([square(i + offset) for i in range(n)])

plain = CompoundTask(build, 4)
generated = build_gen(3, offset=10)
@TaskGenerator
def after(x, y):
    return x + y
both = after(plain, generated)
"""


def test_compound_task_is_not_rebuilt_once_stored(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged(COMPOUND))
    log = tmp_path / "log"
    st = status(jf, jugdir)
    assert counts(st, "jugfile.square")["ready"] == 7  # the inner graph is visible before running
    assert counts(st, "jugfile.after")["waiting"] == 1
    assert lines(log).count("build") == 1 and lines(log).count("build_gen") == 1
    execute(jf, jugdir)
    builds = lines(log).count("build") + lines(log).count("build_gen")
    expected = sum(i * i for i in range(4)) + sum(i * i for i in range(10, 13))
    assert jug_eval(jf, jugdir, "out = value(ns['both'])") == expected
    st = status(jf, jugdir)
    assert st["total"]["finished"] == sum(st["total"].values())
    assert "jugfile.square" not in st["tasks"]  # stored compound: inner graph not rebuilt
    assert counts(st, "jugfile.build")["finished"] == 1
    assert counts(st, "jugfile.build_gen")["finished"] == 1
    assert lines(log).count("build") + lines(log).count("build_gen") == builds
    assert sorted(w for w in lines(log) if w.startswith("square")) == sorted(
        [f"square-{i}" for i in range(4)] + [f"square-{i}" for i in range(10, 13)])


def test_compound_task_result_changes_with_arguments(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged(COMPOUND))
    execute(jf, jugdir)
    jf.write_text(jf.read_text().replace("CompoundTask(build, 4)", "CompoundTask(build, 5)"))
    st = status(jf, jugdir)
    assert counts(st, "jugfile.square")["finished"] == 4 and counts(st, "jugfile.square")["ready"] == 1
    execute(jf, jugdir)
    expected = sum(i * i for i in range(5)) + sum(i * i for i in range(10, 13))
    assert jug_eval(jf, jugdir, "out = value(ns['both'])") == expected


def test_tasklets_index_slice_key_and_iteratetask(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def make():
        log("make")
        return {"key": [1, 2, 3, 4], "other": "x"}

    @TaskGenerator
    def seq():
        log("seq")
        return (10, 20, 30, 40)

    @TaskGenerator
    def use(*args):
        log("use")
        return list(args)

    d = make()
    s = seq()
    first = s[0]
    middle = s[1:3]
    key = d["key"]
    nested = d["key"][-1]
    a, b, c, e = iteratetask(s, 4)
    assert isinstance(first, Tasklet) and isinstance(middle, Tasklet) and isinstance(key, Tasklet)
    u = use(first, middle, key, nested, a, e)
    """))
    st = status(jf, jugdir)
    # Tasklets are not tasks of their own: only make, seq and use are listed
    assert sum(st["total"].values()) == 3
    assert counts(st, "jugfile.use")["waiting"] == 1  # a Tasklet is a real dependency
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["make", "seq", "use"]
    out = jug_eval(jf, jugdir, """
    out = [value(ns['u']), value(ns['first']), list(value(ns['middle'])), value(ns['key']),
           [value(x) for x in (ns['a'], ns['b'], ns['c'], ns['e'])],
           ns['first'].can_load(), type(ns['first']).__name__]
    """)
    assert out == [[10, [20, 30], [1, 2, 3, 4], 4, 10, 40], 10, [20, 30], [1, 2, 3, 4],
                   [10, 20, 30, 40], True, "Tasklet"]
    # nothing extra was stored for Tasklets: three results in the store
    assert status(jf, jugdir)["total"]["finished"] == 3


def test_tasklet_dependency_reruns_when_base_changes(tmp_path: Path, jugdir: Path) -> None:
    src = logged("""
    @TaskGenerator
    def pair(i):
        return (i, -i)

    @TaskGenerator
    def neg(x):
        log(f"neg-{x}")
        return x

    n = neg(pair(VALUE)[1])
    """)
    jf = write_jugfile(tmp_path, src.replace("VALUE", "3"))
    execute(jf, jugdir)
    jf.write_text(src.replace("VALUE", "4"))
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["neg--3", "neg--4"]


def test_deep_chain_execute_status_value(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, """
    import sys
    from jug import TaskGenerator
    sys.setrecursionlimit(500)  # well below the chain depth: nothing may recurse per task

    @TaskGenerator
    def inc(x):
        return x + 1

    x = 0
    for _ in range(2000):
        x = inc(x)
    top = x
    """)
    st = status(jf, jugdir)
    assert counts(st, "jugfile.inc") == {"waiting": 1999, "ready": 1, "running": 0,
                                         "finished": 0, "failed": 0, "crashed": 0}
    p = execute(jf, jugdir)
    assert "RecursionError" not in p.stderr
    st = status(jf, jugdir)
    assert counts(st, "jugfile.inc")["finished"] == 2000
    out = jug_eval(jf, jugdir, """
    from jug.task import recursive_dependencies
    top = ns['top']
    deps = list(recursive_dependencies(top))
    v = value(top)
    top.unload_recursive()
    out = [v, len(deps), top.is_loaded(), len(top.hash())]
    """)
    assert out == [2000, 1999, False, 40]
    p = run_jug("status", "--short", jf, "--jugdir", jugdir, check=True)
    assert "2000 finished" in p.stdout


def test_many_compound_tasks_load_in_linear_time(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, """
    from jug import TaskGenerator
    from jug.compound import CompoundTaskGenerator

    @TaskGenerator
    def inc(x):
        return x + 1

    @CompoundTaskGenerator
    def twice(i):
        return inc(inc(i))

    cs = [twice(i) for i in range(30000)]
    """)
    t0 = time.monotonic()
    st = status(jf, jugdir)
    elapsed = time.monotonic() - t0
    assert st["total"]["ready"] == 30000 and st["total"]["waiting"] == 60000
    assert elapsed < 6, f"status of 30,000 compound tasks took {elapsed:.1f}s (quadratic?)"
