"""Hashes are canonical: equal for equal inputs in any process, distinct for distinct inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jug.hash import UnhashableError, hash_one

SAMPLES = [
    0, 1, -1, 2**80, 1.5, -0.0, float("inf"), "x", "ünï", b"bytes", True, False, None,
    (1, 2), [1, 2], {"a": 1, "b": [1, 2]}, {1, 2, 3}, frozenset({1}), list(range(100)),
    ["a", "b"] * 20, [1.5, 2.5] * 10, (None,) * 20,
]


def test_distinct_values_hash_differently() -> None:
    hashes = [hash_one(x) for x in SAMPLES]
    assert len(set(hashes)) == len(SAMPLES)


def test_type_matters() -> None:
    assert hash_one(1) != hash_one(1.0) != hash_one(True)
    assert hash_one([1, 2]) != hash_one((1, 2))
    assert hash_one(list(range(20))) != hash_one(tuple(range(20)))
    assert hash_one("1") != hash_one(1)
    assert hash_one(["a"] * 10) != hash_one([b"a"] * 10)


def test_dict_and_set_order_do_not_matter() -> None:
    a = {"x": 1, "y": 2, 3: "z"}
    b = {3: "z", "y": 2, "x": 1}
    assert hash_one(a) == hash_one(b)
    assert hash_one({5, 1, 9}) == hash_one({9, 5, 1})


def test_same_hash_in_another_process_with_other_hash_seed() -> None:
    code = ("from jug.hash import hash_one; import sys; "
            "print(hash_one([{'b': 2, 'a': {1, 2, 'x'}}, 'text', 1.25, (None, True)]))")
    outs = set()
    for seed in ("1", "2", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin",
                                  "PYTHONPATH": ":".join(sys.path)}, check=True).stdout
        outs.add(out.strip())
    assert len(outs) == 1
    assert outs.pop() == hash_one([{"b": 2, "a": {1, 2, "x"}}, "text", 1.25, (None, True)])


def test_golden_hashes_are_stable() -> None:
    # If these change, the encoding changed: bump ENCODING_VERSION on purpose.
    assert hash_one(1) == "ff643f7bf65b9ed81315bc06ddadf2f78b76fa44"
    assert hash_one({"a": [1, 2.5, "x"]}) == "f8cb162abd286120ea184b4a99f6df1f37ec86d2"
    assert hash_one(np.arange(4, dtype="<i8")) == "2ff536edee61cd9b0c0977723f0259d823a01f7a"


def test_numpy_arrays_hash_by_dtype_shape_and_content() -> None:
    a = np.arange(12, dtype=np.int64)
    assert hash_one(a) == hash_one(np.arange(12, dtype=np.int64))
    assert hash_one(a) != hash_one(a.astype(np.int32))
    assert hash_one(a) != hash_one(a.reshape(3, 4))
    b = a.copy()
    b[5] = 99
    assert hash_one(a) != hash_one(b)
    # non-contiguous views hash like their contiguous copy
    m = np.arange(20.0).reshape(4, 5)
    assert hash_one(m[:, 1]) == hash_one(np.ascontiguousarray(m[:, 1]))
    assert hash_one(np.float64(1.5)) != hash_one(np.float32(1.5))


def test_jug_hash_hook() -> None:
    class Thing:
        def __init__(self, key: str, junk: int) -> None:
            self.key = key
            self.junk = junk

        def __jug_hash__(self) -> str:
            return "thing:" + self.key

    assert hash_one(Thing("a", 1)) == hash_one(Thing("a", 2))
    assert hash_one(Thing("a", 1)) != hash_one(Thing("b", 1))


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


def test_plain_objects_hash_by_class_and_state() -> None:
    assert hash_one(Point(1, 2)) == hash_one(Point(1, 2))
    assert hash_one(Point(1, 2)) != hash_one(Point(2, 1))


def test_functions_hash_by_name() -> None:
    assert hash_one(len) == hash_one(len)
    assert hash_one(len) != hash_one(sum)


@pytest.mark.parametrize("n", [1_000_000])
def test_million_int_list_hashes_consistently(n: int) -> None:
    big = list(range(n))
    h = hash_one(big)
    big[-1] += 1
    assert hash_one(big) != h
    big[-1] -= 1
    assert hash_one(big) == h


def test_deep_nesting_does_not_hit_recursion_limit() -> None:
    x: list = []
    for _ in range(5000):
        x = [x]
    assert len(hash_one(x)) == 40


class Scaler:
    def __init__(self, k: int) -> None:
        self.k = k

    def apply(self, x: int) -> int:
        return self.k * x


def _add(a: int, b: int) -> int:
    return a + b


def test_partials_and_bound_methods_hash_their_arguments() -> None:
    import functools

    assert hash_one(functools.partial(_add, 1)) != hash_one(functools.partial(_add, 2))
    assert hash_one(functools.partial(_add, 1)) == hash_one(functools.partial(_add, 1))
    assert hash_one(functools.partial(_add, b=1)) != hash_one(functools.partial(_add, 1))
    assert hash_one(Scaler(1).apply) != hash_one(Scaler(2).apply)
    assert hash_one(Scaler(3).apply) == hash_one(Scaler(3).apply)
    assert hash_one(len) != hash_one([].append)


# -- functions as arguments: never two different callables with one hash (issue 11, item 1) --

def _make_scaler(k: int):
    def scale(x: int) -> int:
        return k * x
    return scale


def test_closures_from_one_factory_hash_by_their_values() -> None:
    assert hash_one(_make_scaler(10)) != hash_one(_make_scaler(20))
    assert hash_one(_make_scaler(10)) == hash_one(_make_scaler(10))


def test_lambdas_hash_by_code_and_constants() -> None:
    plus1, plus2, minus1 = (lambda x: x + 1), (lambda x: x + 2), (lambda x: x - 1)
    assert len({hash_one(plus1), hash_one(plus2), hash_one(minus1)}) == 3
    assert hash_one(plus1) == hash_one(lambda x: x + 1)


FACTOR = 2


def test_functions_hash_the_globals_they_use() -> None:
    global FACTOR
    def times(x: int) -> int:
        return x * FACTOR

    before = hash_one(times)
    FACTOR = 3
    try:
        assert hash_one(times) != before
    finally:
        FACTOR = 2
    assert hash_one(times) == before


def test_defaults_and_shadowed_names_change_the_hash() -> None:
    import types

    with_default = types.FunctionType(_add.__code__, globals(), "_add", (5,))
    assert hash_one(with_default) != hash_one(_add)  # same name, not the module's _add
    assert hash_one(_add) == hash_one(_add)


def test_recursive_local_function_hashes() -> None:
    def factory(k: int):
        def rec(n: int) -> int:
            return k if n == 0 else rec(n - 1)
        return rec

    assert hash_one(factory(1)) == hash_one(factory(1))
    assert hash_one(factory(1)) != hash_one(factory(2))


def test_named_functions_keep_their_hash() -> None:
    # functions their module and name designate are hashed by name, as before the fix:
    # stores made earlier keep their results (golden value from the previous encoder)
    import functools
    import math
    import operator

    assert hash_one([len, math.sqrt, functools.partial(operator.add, 1)]) == \
        "a8cad193ddcfd7296846d845948909b0c9b984d4"


def test_local_class_is_refused() -> None:
    def factory(k: int) -> type:
        class Local:
            factor = k
        return Local

    with pytest.raises(UnhashableError, match="defined inside a function"):
        hash_one(factory(1))


# -- cycles and unhashable objects (issue 11, items 7 and 11) --

def test_self_referencing_structures_are_refused() -> None:
    a: list = []
    a.append(a)
    d: dict = {}
    d["me"] = [d]
    p = Point(1, 2)
    p.x = p  # type: ignore[assignment]
    for value in (a, d, p):
        with pytest.raises(UnhashableError, match="contains itself"):
            hash_one(value)


def test_shared_but_acyclic_parts_are_fine() -> None:
    x = [1, 2]
    assert hash_one([x, x]) == hash_one([[1, 2], [1, 2]])


def test_objects_without_stable_content_are_refused() -> None:
    import threading

    with open(__file__) as f:
        for value in (threading.Lock(), f, (i for i in range(3))):
            with pytest.raises(UnhashableError):
                hash_one(value)


def _task_of(*args: object, **kwargs: object):
    from jug.task import Task

    return Task(_add, *args, **kwargs)


def test_task_error_names_the_task_and_the_argument() -> None:
    import threading

    from jug.task import ArgumentHashError

    with pytest.raises(ArgumentHashError, match=r"argument 'b' \(lock\) of task .*_add: "):
        _task_of(1, b=threading.Lock()).hash()
    cyclic: list = [1]
    cyclic.append(cyclic)
    with pytest.raises(ArgumentHashError, match=r"argument 2 \(list\) of task .*_add: .*itself"):
        _task_of(1, cyclic).hash()


@pytest.mark.parametrize("argument", ["threading.Lock()", "cyclic"])
@pytest.mark.parametrize("command", ["status", "execute"])
def test_cli_reports_unhashable_argument_in_one_line(tmp_path, command: str, argument: str) -> None:
    from support import error_lines, run_jug, write_jugfile

    write_jugfile(tmp_path, f"""
        import threading
        from jug import TaskGenerator

        @TaskGenerator
        def work(x):
            return 1

        cyclic = []
        cyclic.append(cyclic)
        t = work({argument})
    """)
    proc = run_jug(command, "jugfile.py", cwd=tmp_path, timeout=60)
    assert proc.returncode != 0
    # the error is one line; a worker's own start and exit log lines may stand around it
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("jug: cannot hash argument 1") and "jugfile.work" in lines[0]
    assert "Traceback" not in proc.stderr


# -- the fast paths and the session cache --

@pytest.mark.parametrize("values", [
    list(range(-2**31, -2**31 + 100)) + list(range(2**31 - 100, 2**31)),
    [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e308, 5e-324] * 20,
    tuple(range(1000)),
])
def test_one_pass_packing_matches_the_type_scan_encoding(values) -> None:
    from jug.hash import _marshal_packed, _scalar_parts

    prefix, body = _marshal_packed(values)
    ref_prefix, ref_body = _scalar_parts(values, frozenset(map(type, values)))
    assert prefix == ref_prefix and bytes(body) == bytes(ref_body)


def test_one_pass_packing_without_numpy_matches(monkeypatch) -> None:
    from jug.hash import _marshal_packed, _scalar_parts

    monkeypatch.delitem(sys.modules, "numpy")
    for values in (list(range(-500, 500)) * 3, [x / 3 for x in range(-300, 300)]):
        prefix, body = _marshal_packed(values)
        ref_prefix, ref_body = _scalar_parts(values, frozenset(map(type, values)))
        assert prefix == ref_prefix and bytes(body) == bytes(ref_body)


def test_almost_homogeneous_lists_keep_their_types() -> None:
    import enum

    class Level(enum.IntEnum):
        ONE = 1

    ones = [1] * 200
    for odd in (True, Level.ONE, np.int64(1), 1.0, 2**40):
        mixed = ones[:100] + [odd] + ones[100:]
        assert hash_one(mixed) != hash_one(ones[:100] + [1] + ones[100:]), odd
    floats = [1.0] * 200
    assert hash_one(floats[:50] + [np.float64(1.0)] + floats[50:]) != hash_one(floats + [1.0])


def test_session_cache_never_serves_a_mutated_list() -> None:
    from jug.hash import hash_session

    big = list(range(5000))
    with hash_session():
        first = hash_one(big)
        assert hash_one(big) == first  # served from the cache
    big[0] = -1
    with hash_session():
        assert hash_one(big) != first
    big[0] = 0
    assert hash_one(big) == first


def test_tasks_sharing_a_list_see_it_as_it_is_when_hashed() -> None:
    big = list(range(5000))
    t1 = _task_of(big, 1)
    h1 = t1.hash()
    big.append(1)  # mutated between tasks: the next task must not get a stale hash
    t2 = _task_of(big, 1)
    assert t2.hash() != h1
    big.pop()
    assert _task_of(big, 1).hash() == h1


def test_dependency_scan_terminates_on_cycles() -> None:
    from jug.task import _find_dependencies

    a: list = []
    a.append(a)
    d: dict = {"k": a}
    assert _find_dependencies((a, d), {}) == []


def test_bulk_pass_scans_a_shared_argument_once(monkeypatch) -> None:
    import jug.hash as jh
    from jug.state.taskstate import unique_tasks

    calls = []
    real = jh._marshal_packed
    monkeypatch.setattr(jh, "_marshal_packed", lambda seq: calls.append(1) or real(seq))
    big = list(range(100_000))
    tasks = [_task_of(big, i) for i in range(20)]
    assert len(unique_tasks(tasks)) == 20
    assert len(calls) == 1
    big[5] = -5  # after the pass: a new task sees the new content
    assert _task_of(big, 0).hash() != tasks[0].hash()
    assert len(calls) == 2


def test_debug_mode_runs_tasks_whose_argument_values_hold_a_cycle() -> None:
    from jug.task import Task

    def make_cycle() -> list:
        a: list = []
        a.append(a)
        return a

    def size(x: list) -> int:
        return len(x)

    made = Task(make_cycle)
    made.run(save=False)
    assert Task(size, made).run(save=False, debug_mode=True) == 1


def test_task_functions_named_by_their_module_keep_their_hash() -> None:
    import operator

    from jug.task import Task

    # golden values from before closures were told apart: existing stores stay valid
    assert Task(operator.add, 1, 2).hash() == "c06fa58db015bcca99717cc073455676d1969a97"
    assert Task(operator.add, [1], [2]).hash() == "0a0b34f5128113a4159e75fd7a16eba6e751d8ee"


def test_closures_as_task_functions_are_different_tasks() -> None:
    from jug.task import Task

    assert Task(_make_scaler(10), 3).hash() != Task(_make_scaler(20), 3).hash()
    assert Task(_make_scaler(10), 3).hash() == Task(_make_scaler(10), 3).hash()
    assert Task(_make_scaler(10), [3]).hash() != Task(_make_scaler(20), [3]).hash()


def test_decorated_task_functions_keep_their_name_hash() -> None:
    import types

    from jug.compound import CompoundTaskGenerator
    from jug.task import Task

    module = types.ModuleType("decorated_jugfile")
    sys.modules["decorated_jugfile"] = module
    try:
        exec("def work(x):\n    return x\n", module.__dict__)
        raw = module.work
        before = Task(raw, 1).hash()
        module.work = CompoundTaskGenerator(raw)  # the name now holds a wrapper object
        # module-level task functions are identified by name, as in Jug, whatever wraps them
        assert Task(raw, 1).hash() == before
    finally:
        del sys.modules["decorated_jugfile"]
