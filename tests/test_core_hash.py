"""Hashes are canonical: equal for equal inputs in any process, distinct for distinct inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jug.hash import hash_one

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
