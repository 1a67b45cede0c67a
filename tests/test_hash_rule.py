"""The hash rule (README, "Hashes"): values a task could tell apart never share a hash, equal
values hash alike in any process, and the kinds that were already hashed right keep the
hashes existing stores were written with (golden values below, from the encoder before the
rule was extended)."""

from __future__ import annotations

import collections
import math

import numpy as np

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
