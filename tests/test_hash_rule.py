"""The hash rule (README, "Hashes"): values a task could tell apart never share a hash, equal
values hash alike in any process, and the kinds that were already hashed right keep the
hashes existing stores were written with (golden values below, from the encoder before the
rule was extended)."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from jug.hash import hash_one

Pair = collections.namedtuple("Pair", "a b")


def golden_values() -> dict:
    """Values of the kinds whose hash was already right: their hashes must never change."""
    return {
        "int": 7, "negative int": -3, "big int": 2**100, "float": 2.5, "minus zero": -0.0,
        "inf": math.inf, "nan": math.nan, "true": True, "false": False, "none": None,
        "str": "h\u00e9llo", "empty str": "", "bytes": b"\x00\xff",
        "short list": [1, "a", None], "long int list": list(range(-100, 100)),
        "long float list": [i / 7 for i in range(100)],
        "huge int list": [2**63 + i for i in range(70)],
        "long mixed list": ["a", 1, 2.5, None] * 30, "tuple": (1, (2, 3)),
        "dict": {"a": [1, 2], 3: {"b": None}}, "set": {1, 2, 3}, "frozenset": frozenset({"x"}),
        "nested": [{"k": (1, 2.0, "3")}, [b"x", True]], "namedtuple": Pair(1, 2),
        "int64 matrix": np.arange(6, dtype="<i8").reshape(2, 3),
        "float64 array": np.linspace(0, 1, 5), "big-endian float32": np.arange(3, dtype=">f4"),
        "bool array": np.array([True, False]), "complex array": np.array([1 + 2j]),
        "0-d array": np.array(3.5), "0-size array": np.zeros((0, 3)),
        "Fortran array": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "uint8 array": np.arange(4, dtype=np.uint8), "unicode array": np.array(["ab", "c"]),
        "datetime array": np.array(["2020-01-01"], dtype="M8[D]"),
        "raw void array": np.zeros(2, dtype="V4"), "float32 scalar": np.float32(1.5),
        "int64 scalar": np.int64(3), "numpy bool": np.bool_(True),
    }


GOLDEN_JUGFILE = """
import numpy as np
from jug import Task, TaskGenerator

@TaskGenerator
def double(x):
    return 2 * x

@TaskGenerator
def total(xs, scale=1):
    return sum(xs) * scale

def plain(a, b):
    return a + b

doubled = [double(i) for i in range(3)]
scaled = total(doubled, scale=2)
text = Task(plain, "a", b="b")
array = double(np.arange(4))
first = double((1.5, None))[0]
mixed = total([first, 1, {"k": doubled[0]}])
long = total(list(range(1000)))
"""

#: hash_one of golden_values(), computed by the encoder before the hash rule was extended
GOLDEN = {
    "int": "9de333477cd21473d8a5bfc1d701826e44b3b6d9",
    "negative int": "e2103d8cc268cd21b796b97709ebc0d92272513b",
    "big int": "acc00a0472ffa476c6a038c6318ad943fd3acc6d",
    "float": "bf6c47d0e9b798fcd187187b134fdeb8588fa4c3",
    "minus zero": "ee5a68bd80a2904aba6a883a7e3fc7213bd9634c",
    "inf": "1869ddf772c11a6f9e67db206d1beef4419f8d05",
    "nan": "e33b4ee619482932bb238be0e72928c93716577e",
    "true": "aba855f4720ef5143782d9e8faf54e6e140c486a",
    "false": "92e581271f602bff174e669a75d4fe3732de0fec",
    "none": "e94a90699dee8cdcee0020807dabc9ff1885ef84",
    "str": "3aff5d1fb8825f243de461fce688b43afd29a405",
    "empty str": "93bec41f8b15494923f8d22d4c0180f9d11744ee",
    "bytes": "81f5462c172da518e3f6576685d6689cadfe1869",
    "short list": "dec5cd30efee502cf8e2960a63cafb044307754c",
    "long int list": "52de3e5f2fe6244dc23439d482ae52b664cb5dbb",
    "long float list": "a6118ced95a48a91cd1d44170bd52e9b81c6d980",
    "huge int list": "68ffa3b79effe0a1a5c3a8c7c932569866dd0b17",
    "long mixed list": "fee762a3ca699ef59a5c21d25ba69b10a520d126",
    "tuple": "ce35c4dfd35e78f2696986491bbedab5dafb46e9",
    "dict": "a6d83422375148cfcc72a710215d094eac44c77a",
    "set": "25b3d97c7d1567736c0519bd86bb2fc33feb76ee",
    "frozenset": "34c4462f23c396490878f18d74e9e54de3d91016",
    "nested": "f87ef89d4f11cd64dad6e05f1601a498a1dccab6",
    "namedtuple": "322adacac8352545346ac7213dfcf0ddc238789f",
    "int64 matrix": "c72c053df4e4d39d2495a8e465cc24e3f1306ca1",
    "float64 array": "a65474ce49e343b27861b5c45e6b68e47b8bf19f",
    "big-endian float32": "bf2eae0ecb36ef32c66d9f268792bfd2d74ab8ba",
    "bool array": "e4fa4e997379d91be451aa434f780dc846239faf",
    "complex array": "30f57cd79c97abecde8197b5428efe1ca17bd52c",
    "0-d array": "bc88af95bd81a0272f026823129c9ee01d3a2bcc",
    "0-size array": "aac81b9ef44e60c8358886abe45f697af1b93927",
    "Fortran array": "d885c5b08c10ee9f42f72039b9735aedcf40f7b7",
    "uint8 array": "8d9522e9807c9081383110963331d650b7e85365",
    "unicode array": "72cf62d39ccbce8a65ffedc0e2f486a8b977d444",
    "datetime array": "18affc8534e9b76a7e3aa388356858fd0a953eff",
    "raw void array": "bdaff45f0fedc34d046d6d63fc290d6f4c8475a3",
    "float32 scalar": "be423d702162ca965458af5c0e3fb2d00e96d28e",
    "int64 scalar": "b2a4e89e16067bfd64cbd95a1f1bd61ca9ca6820",
    "numpy bool": "1c62084d466b0ec99291070d67bbee56cc17cb43",
}

#: the task hashes of GOLDEN_JUGFILE (in definition order), from the same encoder
GOLDEN_TASKS = [
    "176b0cf9434d6af6493e71ced518ec7a932d309b", "55045637fe721b0c225d21374ae5443522884606",
    "ee2472bcdb2ce88ea7a13262d835c05668038cc7", "387dedd1aadd2c9ce22b6575e1a5e214318a435d",
    "3f126dbfc450b850525523b814f519fbcc1872f5", "8d60d07679fe23b04ac005d3a5617739383fa69a",
    "79569836430dc904f798ba0dca2b6fd3f2ce4526", "39e47a3458c2b505142f62f7ba9a6fdb17e88178",
    "b9ddbfd85034619de91fc2b18380eed1a0bb2ee3",
]


# -- existing stores keep their hashes --

def test_kinds_that_were_right_keep_their_golden_hashes() -> None:
    # If one of these changes, results in existing stores are silently orphaned.
    got = {name: hash_one(v) for name, v in golden_values().items()}
    assert got == GOLDEN


def test_a_jugfiles_task_hashes_are_unchanged(tmp_path) -> None:
    from support import jug_eval, write_jugfile

    jugfile = write_jugfile(tmp_path, GOLDEN_JUGFILE)
    code = "import jug.task\nout = [t.hash() for t in jug.task.alltasks]"
    assert jug_eval(jugfile, tmp_path / "data.jugdata", code) == GOLDEN_TASKS


# -- confirmed collisions (issue 20): each pair shared one hash before the rule was extended --

def test_structured_arrays_with_other_fields_never_share_a_hash() -> None:
    ab = np.zeros(3, [("a", "<i8"), ("b", "<f8")])
    xy = np.zeros(3, [("x", "<f8"), ("y", "<i8")])
    assert hash_one(ab) != hash_one(xy)
    assert hash_one(ab[0]) != hash_one(xy[0])  # their scalars (np.void)
    same_bytes = [
        np.zeros(2, [("a", "<i8"), ("b", "<f8")]), np.zeros(2, [("a", "<i8"), ("c", "<f8")]),
        np.zeros(2, [("a", ">i8"), ("b", "<f8")]),  # byte order of one field
        np.zeros(2, [("b", "<f8"), ("a", "<i8")]),  # field order
        np.zeros(2, {"names": ["a", "b"], "formats": ["<i8", "<f8"], "offsets": [8, 0]}),
        np.zeros(2, [("a", "<i4", (4,)), ("b", "<f8")]),  # a subarray field
        np.zeros(2, [("a", "<i4", (2, 2)), ("b", "<f8")]),  # its shape
        np.zeros(2, [("a", [("p", "<i4"), ("q", "<i4")]), ("b", "<f8")]),  # a nested record
        np.zeros(2, [(("title", "a"), "<i8"), ("b", "<f8")]),  # a field title
        np.zeros(2, "V16"),  # raw bytes, no fields
        np.rec.array(np.zeros(2, [("a", "<i8"), ("b", "<f8")])).view(np.ndarray),  # np.record
    ]
    assert len({hash_one(a) for a in same_bytes}) == len(same_bytes)
    assert len({hash_one(a[0]) for a in same_bytes}) == len(same_bytes)
    assert hash_one(ab) == hash_one(np.zeros(3, [("a", "<i8"), ("b", "<f8")]))


def test_records_holding_objects_hash_their_fields_not_their_pointers() -> None:
    def record(text: str) -> np.void:
        r = np.zeros(1, [("n", "<i8"), ("o", "O")])
        r[0] = (1, "".join(text))  # a new string object each time: another address
        return r[0]

    assert hash_one(record("abc")) == hash_one(record("abc"))
    assert hash_one(record("abc")) != hash_one(record("abd"))
    objects = np.array([{"b", "a"}, "x", None], dtype=object)
    assert hash_one(objects) != hash_one(np.array([{"b", "c"}, "x", None], dtype=object))
    assert hash_one(objects) != hash_one(objects.reshape(3, 1))


def test_masked_arrays_carry_their_mask_fill_value_and_hardness() -> None:
    plain = np.ma.array([1, 2, 3])
    variants = [
        plain, np.ma.array([1, 2, 3], mask=[0, 1, 0]), np.ma.array([1, 2, 3], mask=[1, 0, 0]),
        np.ma.array([1, 2, 3], mask=[0, 0, 0]),  # a.mask is an array, not False
        np.ma.array([1, 2, 3], fill_value=7),  # a.filled() differs
        np.ma.array([1, 2, 3], hard_mask=True),  # assignment cannot unmask
        np.array([1, 2, 3]),
    ]
    assert len({hash_one(v) for v in variants}) == len(variants)
    assert hash_one(plain) == hash_one(np.ma.array([1, 2, 3]))
    m = np.ma.array([1, 2, 3], mask=[0, 1, 0])
    before = hash_one(m)
    _ = m.fill_value  # reading it fills a cache: the hash must not move
    assert hash_one(m) == before


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_matrix_and_other_array_subclasses_carry_their_type_and_state() -> None:
    from hashkinds import units

    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert hash_one(np.matrix(rows)) != hash_one(rows)  # `*` is another product
    assert hash_one(np.matrix(rows)) == hash_one(np.matrix(rows.copy()))
    assert hash_one(units(rows, "m")) != hash_one(units(rows, "s"))
    assert hash_one(units(rows, "m")) != hash_one(rows)
    assert hash_one(units(rows, "m")) == hash_one(units(rows.copy(), "m"))
    records = np.zeros(2, [("a", "<i8")])
    assert hash_one(records.view(np.recarray)) != hash_one(records)
    assert hash_one(np.ma.array(np.matrix(rows))) != hash_one(np.ma.array(rows))


def test_subclasses_of_built_ins_keep_their_type_and_state() -> None:
    from hashkinds import SlotList, TaggedList, TaggedSet, TaggedStr, tagged

    od = collections.OrderedDict
    dd = collections.defaultdict
    pairs = [
        (dd(list, a=[1]), dd(int, a=[1])),  # d["new"] is [] or 0
        (od([(1, "x"), (2, "y")]), od([(2, "y"), (1, "x")])),  # == and iteration see order
        (tagged(TaggedStr, "x", 1), tagged(TaggedStr, "x", 2)),
        (tagged(TaggedList, [1], "m"), tagged(TaggedList, [1], "s")),
        (TaggedSet({1}), TaggedSet({2})),  # its content was dropped altogether
        (tagged(TaggedList, [1], None), [1]),
        (od(a=1), {"a": 1}),
    ]
    for a, b in pairs:
        assert hash_one(a) != hash_one(b), (a, b)
    slotted, other = SlotList([1]), SlotList([1])
    slotted.unit = "m"
    other.unit = "s"
    assert hash_one(slotted) != hash_one(other)
    del other.unit  # an unset slot is state too
    assert len({hash_one(slotted), hash_one(other), hash_one(SlotList([1]))}) == 2
    assert hash_one(dd(list, a=[1])) == hash_one(dd(list, a=[1]))
    assert hash_one(od([(1, 2), (3, 4)])) == hash_one(od([(1, 2), (3, 4)]))


def test_struct_sequences_carry_their_fields_beyond_the_tuple() -> None:
    import os

    fields = (0o100644, 1, 2, 1, 0, 0, 10, 5, 5, 5)
    a = os.stat_result(fields, {"st_mtime_ns": 5_000_000_001})
    b = os.stat_result(fields, {"st_mtime_ns": 5_000_000_002})
    assert hash_one(a) != hash_one(b)


def test_what_cannot_be_represented_is_refused() -> None:
    import threading

    from hashkinds import TaggedList, tagged

    from jug.hash import UnhashableError, check_state_visible

    with pytest.raises(UnhashableError, match="cannot be hashed"):
        hash_one(tagged(TaggedList, [1], threading.Lock()))
    # a class written in C between a value's type and its built-in base may hold state
    # jug cannot read: refused (numpy's float64 derives from float)
    with pytest.raises(UnhashableError, match="written in C"):
        check_state_visible(np.float64, float)


def test_bound_methods_as_task_functions_hash_their_object() -> None:
    from jug.task import Task

    assert Task(Model(1).fit, 10).hash() != Task(Model(2).fit, 10).hash()
    assert Task(Model(1).fit, 10).hash() == Task(Model(1).fit, 10).hash()
    assert Task(Model(1).fit, [10]).hash() != Task(Model(2).fit, [10]).hash()
    # the plain function of the same name is another task
    assert Task(Model.fit, Model(1), 10).hash() != Task(Model(1).fit, 10).hash()
    assert Task(Model(1).fit, 10).hash() != Task(Model.fit, Model(1), 10).hash()


def test_a_task_function_bound_to_what_cannot_be_hashed_says_how_to_write_it() -> None:
    import threading

    from jug.task import ArgumentHashError, Task

    with pytest.raises(ArgumentHashError, match=r"bound to: .*def fit\(params, x\)") as e:
        Task(Model(threading.Lock()).fit, 10).hash()
    assert "\n" not in str(e.value)


def test_classmethods_and_builtins_as_task_functions_keep_their_name_hash() -> None:
    import math

    from jug.task import Task

    # golden values from the encoder before bound task functions hashed their object
    assert Task(Model.make, 1).hash() == GOLDEN_CLASSMETHOD_TASK
    assert Task(math.sqrt, 2.0).hash() == GOLDEN_BUILTIN_TASK


class Config:
    SCALE = 2


def test_lambdas_reading_a_class_attribute_hash_the_class_content() -> None:
    def scaler():  # a closure reading Config.SCALE through its globals
        return lambda x: x * Config.SCALE

    before = hash_one(scaler())
    Config.SCALE = 3
    try:
        assert hash_one(scaler()) != before
    finally:
        Config.SCALE = 2
    assert hash_one(scaler()) == before


def test_closures_and_defaults_holding_a_class_hash_its_content() -> None:
    def make(cls: type):
        return lambda x: x * cls.SCALE

    class Other:
        SCALE = 2

    a = hash_one(make(Config))
    b = hash_one(make(Other))  # a class defined in a function: by content, not refused
    Other.SCALE = 5
    assert hash_one(make(Other)) != b
    assert a != b
    before = hash_one(lambda x, c=Config: x * c.SCALE)
    Config.SCALE = 4
    try:
        assert hash_one(lambda x, c=Config: x * c.SCALE) != before
    finally:
        Config.SCALE = 2


def test_closure_task_functions_reading_a_class_are_different_tasks() -> None:
    from jug.task import Task

    def make():
        def work(x: int) -> int:
            return x * Config.SCALE
        return work

    before = Task(make(), 1).hash()
    Config.SCALE = 7
    try:
        assert Task(make(), 1).hash() != before
    finally:
        Config.SCALE = 2


class Recursive:
    """A class whose attribute refers back to it, and one jug cannot read."""

    import threading
    LOCK = threading.Lock()
    LIMIT = 3
    check = staticmethod(lambda n: n < Recursive.LIMIT)


def test_class_content_survives_cycles_and_unreadable_attributes() -> None:
    f = lambda n: Recursive.check(n)  # noqa: E731
    before = hash_one(f)
    assert hash_one(f) == before
    Recursive.LIMIT = 4
    try:
        assert hash_one(f) != before
    finally:
        Recursive.LIMIT = 3


def test_a_jugfile_computing_both_gets_both_results(tmp_path) -> None:
    from support import jug_eval, ok, write_jugfile

    jugfile = write_jugfile(tmp_path, """
        import numpy as np
        from jug import TaskGenerator

        @TaskGenerator
        def field_names(a):
            return list(a.dtype.names)

        @TaskGenerator
        def total(a):
            return int(a.sum())

        ab = field_names(np.zeros(3, [("a", "<i8"), ("b", "<f8")]))
        xy = field_names(np.zeros(3, [("x", "<f8"), ("y", "<i8")]))
        masked = total(np.ma.array([1, 2, 3], mask=[0, 1, 0]))
        unmasked = total(np.ma.array([1, 2, 3]))
    """)
    ok("execute", jugfile, cwd=tmp_path)
    got = jug_eval(jugfile, tmp_path / "jugfile.jugdata",
                   "out = [value(ns[k]) for k in ('ab', 'xy', 'masked', 'unmasked')]")
    assert got == [["a", "b"], ["x", "y"], 4, 6]


class Model:
    def __init__(self, k: object) -> None:
        self.k = k

    def fit(self, x: int) -> int:
        return self.k * x

    @classmethod
    def make(cls, k: int) -> Model:
        return cls(k)


#: Task(Model.make, 1) and Task(math.sqrt, 2.0) hashed by the encoder before the rule was extended
GOLDEN_CLASSMETHOD_TASK = "82efc8d9bd1a31b611f6f9159400a5cdbd7d6743"
GOLDEN_BUILTIN_TASK = "a5f4664adbea1da6c07bc38d21bc773fd5554b84"
