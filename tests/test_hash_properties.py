"""The hash rule (README, "Hashes") over generated values: two values a task could tell apart
(type, dtype, shape, field names, mask, order where it matters, content) never share a
hash; equal values hash alike, in this process and in another one.

What a task can tell apart is written down here independently of jug/hash.py, as
:func:`observe`: a plain Python description of everything a task could read from a value.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
from hashkinds import Pair, SlotList, TaggedList, TaggedSet, TaggedStr, Units, tagged, units
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from support import ROOT, jug_env

from jug.hash import hash_one

FAST = settings(max_examples=int(os.environ.get("JUG_HASH_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- what a task can tell apart ------------------------------------------------------------

_BOOKKEEPING = {"_getitem"}  # np.matrix's transient flag
_SCALARS = (int, bool, str, bytes, type(None))


def observe_dtype(dt: np.dtype) -> object:
    """Everything of a dtype an element's bytes are read through."""
    if dt.subdtype is not None:
        return ("subarray", observe_dtype(dt.subdtype[0]), dt.subdtype[1])
    if dt.fields is None:
        return dt.str
    return (dt.type.__name__, dt.itemsize, dt.isalignedstruct,
            tuple((name, dt.fields[name][1], dt.fields[name][2:], observe_dtype(dt.fields[name][0]))
                  for name in dt.names))


def observe(v: object) -> object:
    """A description of ``v`` that two values share exactly when no task can tell them apart."""
    t = type(v)
    if t is float:
        return ("float", struct.pack("<d", v))  # -0.0, every NaN's sign and payload
    if t in _SCALARS:
        return (t.__name__, v)
    if t is complex:
        return ("complex", struct.pack("<dd", v.real, v.imag))
    if t in (list, tuple):
        return (t.__name__, tuple(map(observe, v)))
    if t in (set, frozenset):
        return (t.__name__, frozenset(map(observe, v)))
    if t is dict:
        return ("dict", frozenset((observe(k), observe(x)) for k, x in v.items()))
    if t is collections.OrderedDict:
        return ("OrderedDict", tuple((observe(k), observe(x)) for k, x in v.items()))
    if t is collections.defaultdict:
        return ("defaultdict", v.default_factory, observe(dict(v)))
    if isinstance(v, np.ndarray):
        return _observe_array(v)
    if isinstance(v, np.generic):
        return ("numpy scalar", observe_dtype(v.dtype), _content(np.asarray(v)))
    return _observe_subclass(v)


def _observe_array(v: np.ndarray) -> object:
    if isinstance(v, np.ma.MaskedArray):
        return ("masked", type(v).__name__, observe(v.data), observe(v._mask),
                observe(v.view().fill_value), v.hardmask)
    if type(v) is not np.ndarray:
        attrs = {k: x for k, x in vars(v).items() if k not in _BOOKKEEPING}
        return (type(v).__name__, observe(v.view(np.ndarray)), observe(attrs))
    return ("array", observe_dtype(v.dtype), v.shape, _content(v))


def _content(v: np.ndarray) -> object:
    """The bytes of each field (the gaps between a record's fields are not its value)."""
    if v.dtype.fields is None:
        return np.ascontiguousarray(v).tobytes()
    return tuple(_content(v[name]) for name in v.dtype.names)


def _observe_subclass(v: object) -> object:
    """The test's own subclasses (hashkinds.py): type, built-in content, attributes."""
    base = next(b for b in (str, list, tuple, set) if isinstance(v, b))
    attrs = dict(getattr(v, "__dict__", {}))
    for slot in ("unit", "_SlotList__secret"):
        if hasattr(v, slot):
            attrs["slot " + slot] = getattr(v, slot)
    return (type(v).__name__, observe(base(v)), observe(attrs))


# -- values of every supported kind -------------------------------------------------------

scalars = st.one_of(
    st.integers(), st.integers(min_value=-2**70, max_value=2**70), st.floats(),
    st.text(max_size=4), st.binary(max_size=4), st.booleans(), st.none(),
    st.complex_numbers(max_magnitude=1e6), st.sampled_from([0, 1, 0.0, -0.0, "", b"", 1.0]))
keys = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.booleans(), st.none())
containers = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(keys, inner, max_size=3), st.frozensets(keys, max_size=3),
    st.sets(keys, max_size=3)), max_leaves=8)
long_lists = st.one_of(
    st.lists(st.integers(-2**40, 2**40), min_size=65, max_size=70),
    st.lists(st.floats(), min_size=65, max_size=70),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-1, 1)), min_size=65, max_size=70))


@st.composite
def padded_dtypes(draw: st.DrawFn) -> np.dtype:
    """Records with gaps and any field order in memory (explicit offsets)."""
    formats = draw(st.lists(hnp.scalar_dtypes(), min_size=1, max_size=3))
    names = draw(st.lists(st.sampled_from("abcxyz"), min_size=len(formats),
                          max_size=len(formats), unique=True))
    order = draw(st.permutations(range(len(formats))))
    offsets, at = [0] * len(formats), 0
    for i in order:
        at += draw(st.integers(0, 3))
        offsets[i] = at
        at += formats[i].itemsize
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": at + draw(st.integers(0, 2))})


plain_dtypes = st.one_of(
    hnp.scalar_dtypes(), hnp.integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"), hnp.byte_string_dtypes(max_len=3),
    hnp.unicode_string_dtypes(max_len=3))
record_dtypes = st.one_of(
    hnp.array_dtypes(plain_dtypes, max_size=3, allow_subarrays=True),
    hnp.nested_dtypes(plain_dtypes, max_leaves=4), padded_dtypes())
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
arrays = st.one_of(hnp.arrays(plain_dtypes, shapes), hnp.arrays(record_dtypes, shapes))
numpy_scalars = arrays.filter(lambda a: a.size > 0).map(lambda a: a.reshape(-1)[0])


@st.composite
def masked_arrays(draw: st.DrawFn) -> np.ma.MaskedArray:
    data = draw(hnp.arrays(st.sampled_from(["<i8", "<f8", ">i4", "?"]), shapes))
    mask = draw(st.one_of(st.none(), hnp.arrays(np.bool_, data.shape)))
    fill = draw(st.sampled_from([None, 0, 1]))
    kind = draw(st.sampled_from([np.ma.MaskedArray, np.ma.MaskedArray]))
    out = kind(data, mask=np.ma.nomask if mask is None else mask, fill_value=fill,
               hard_mask=draw(st.booleans()))
    return out


def _matrix(a: np.ndarray) -> np.matrix:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


tags = st.one_of(st.none(), st.integers(0, 2), st.text(max_size=1))
subclassed = st.one_of(
    st.builds(tagged, st.just(TaggedList), st.lists(st.integers(0, 3), max_size=3), tags),
    st.builds(tagged, st.just(TaggedStr), st.text(max_size=2), tags),
    st.builds(tagged, st.just(TaggedSet), st.sets(st.integers(0, 3), max_size=3), tags),
    st.builds(TaggedList, st.lists(st.integers(0, 3), max_size=3)),
    st.builds(Pair, scalars, scalars),
    st.lists(st.tuples(keys, scalars), max_size=3).map(collections.OrderedDict),
    st.builds(collections.defaultdict, st.sampled_from([list, int, set, None]),
              st.dictionaries(keys, scalars, max_size=2)),
    st.builds(units, hnp.arrays("<f8", shapes), tags),
    hnp.arrays(st.sampled_from(["<i8", "<f8"]), hnp.array_shapes(min_dims=2, max_dims=2,
                                                                 max_side=2)).map(_matrix),
    hnp.arrays(record_dtypes, shapes).map(lambda a: a.view(np.recarray)),
)


@st.composite
def slot_lists(draw: st.DrawFn) -> SlotList:
    out = SlotList(draw(st.lists(st.integers(0, 2), max_size=2)))
    if draw(st.booleans()):
        out.unit = draw(tags)
    return out


KINDS = [scalars, containers, long_lists, arrays, numpy_scalars, masked_arrays(), subclassed,
         slot_lists()]
values = st.one_of(*KINDS)
#: pairs from one kind (near misses: the same kind, another detail) or from any two kinds
pairs = st.one_of(*[st.tuples(k, k) for k in KINDS], st.tuples(values, values))


# -- the properties ------------------------------------------------------------------------

@FAST
@given(pairs)
def test_values_a_task_can_tell_apart_never_share_a_hash(pair: tuple) -> None:
    a, b = pair
    assert (hash_one(a) == hash_one(b)) == (observe(a) == observe(b))


@FAST
@given(values)
def test_equal_values_hash_alike(value: object) -> None:
    twin = copy.deepcopy(value)
    assert observe(twin) == observe(value)
    assert hash_one(twin) == hash_one(value)


_HASH_IN_CHILD = """
import json, pickle, sys
from jug.hash import hash_one
print(json.dumps([hash_one(v) for v in pickle.load(sys.stdin.buffer)]))
"""


@settings(max_examples=int(os.environ.get("JUG_HASH_BATCHES", "2")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=25, max_size=40))
def test_the_same_values_hash_alike_in_another_process(batch: list) -> None:
    batch = pickle.loads(pickle.dumps(batch, protocol=4))  # what the child will load
    env = jug_env({"PYTHONHASHSEED": "12345",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])})
    child = subprocess.run([sys.executable, "-c", _HASH_IN_CHILD], env=env,
                           input=pickle.dumps(batch, protocol=4), capture_output=True,
                           check=True, timeout=60)
    assert json.loads(child.stdout) == [hash_one(v) for v in batch]


def test_the_model_itself_tells_the_issues_pairs_apart() -> None:
    # the oracle is only as good as what it sees: the issue's collisions must differ in it
    assert observe(np.zeros(3, [("a", "<i8"), ("b", "<f8")])) != \
        observe(np.zeros(3, [("x", "<f8"), ("y", "<i8")]))
    assert observe(np.ma.array([1, 2, 3], mask=[0, 1, 0])) != observe(np.ma.array([1, 2, 3]))
    assert observe(units([1.0], "m")) != observe(units([1.0], "s"))
    assert isinstance(units([1.0], "m"), Units)
