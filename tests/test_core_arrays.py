"""numpy results: written without copies, read into their final memory, still checksummed."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from jug.backends.base import HEADER_SIZE, CorruptResult, decode_result, encode_result
from jug.backends.dict_store import DictStore
from jug.backends.file_store import FileStore

BIG = 16 << 20  # 16 MiB, the size the issue measures


def _arrays() -> dict[str, np.ndarray]:
    big = np.arange(BIG // 8, dtype=np.float64)
    return {
        "small": np.arange(10),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": np.arange(40).reshape(5, 8)[:, ::3],
        "big-endian": np.arange(300_000, dtype=">i4"),
        "structured": np.zeros(200_000, dtype=[("a", "<i4"), ("b", "<f8")]),
        "datetime": np.arange(200_000).astype("M8[s]"),
        "big": big,
        "big-fortran": np.asfortranarray(big.reshape(1024, -1)),
        "big-strided": big[::2],
        "bool-3d": (np.arange(2_000_000) % 3 == 0).reshape(100, 100, 200),
    }


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / "jugdata"))


@pytest.mark.parametrize("name", list(_arrays()))
def test_arrays_round_trip(store: FileStore, name: str) -> None:
    arr = _arrays()[name]
    store.save("k" * 40, arr)
    back = store.load("k" * 40)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr)
    assert np.isfortran(back) == np.isfortran(arr)
    memory = DictStore()
    memory.save("k" * 40, arr)  # stores that keep one bytes object decode the same framing
    assert np.array_equal(memory.load("k" * 40), arr)
    assert np.array_equal(decode_result(encode_result(arr)), arr)


@pytest.mark.parametrize("name", ["small", "fortran", "big", "big-fortran", "structured"])
def test_file_layout_is_the_np_save_layout(store: FileStore, name: str) -> None:
    # results written before the zero-copy writer (header + np.save bytes) stay readable
    # and the new writer writes the same bytes
    arr = _arrays()[name]
    store.save("a" * 40, arr)
    data = Path(store.result_path("a" * 40)).read_bytes()
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    assert data[HEADER_SIZE:] == buf.getvalue()
    assert data == encode_result(arr)


def _saved(store: FileStore, arr: np.ndarray) -> Path:
    store.save("c" * 40, arr)
    return Path(store.result_path("c" * 40))


@pytest.mark.parametrize("where", ["data", "npy-header", "jug-header-crc"])
def test_flipped_byte_in_large_array_is_detected(store: FileStore, where: str) -> None:
    path = _saved(store, _arrays()["big"])
    data = bytearray(path.read_bytes())
    offset = {"data": len(data) - 12345, "npy-header": HEADER_SIZE + 20,
              "jug-header-crc": HEADER_SIZE - 1}[where]
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptResult):
        store.load("c" * 40)


@pytest.mark.parametrize("change", ["truncate", "append", "zero-tail"])
def test_torn_large_array_is_detected(store: FileStore, change: str) -> None:
    path = _saved(store, _arrays()["big"])
    data = path.read_bytes()
    data = {"truncate": data[:-1000], "append": data + b"\0",
            "zero-tail": data[:-4096] + bytes(4096)}[change]
    path.write_bytes(data)
    with pytest.raises(CorruptResult):
        store.load("c" * 40)


def _peak_extra(fn) -> int:
    """Bytes allocated at the peak of ``fn()`` beyond what existed before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_saving_16mib_array_needs_no_copy_of_it(store: FileStore) -> None:
    arr = np.random.default_rng(0).random(BIG // 8)
    store.save("warm" + "0" * 36, np.zeros(3))  # folders made, modules imported
    extra = _peak_extra(lambda: store.save("d" * 40, arr))
    assert extra < 0.2 * arr.nbytes, f"saving allocated {extra / arr.nbytes:.2f}x the array"


def test_loading_16mib_array_allocates_it_once(store: FileStore) -> None:
    arr = np.random.default_rng(1).random(BIG // 8)
    store.save("e" * 40, arr)
    out: list = []
    extra = _peak_extra(lambda: out.append(store.load("e" * 40)))
    assert np.array_equal(out[0], arr)
    assert extra < 1.2 * arr.nbytes, f"loading allocated {extra / arr.nbytes:.2f}x the array"


def test_fsync_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    FileStore(str(tmp_path / "a")).save("f" * 40, _arrays()["big"])
    assert calls == []
    monkeypatch.setenv("JUG_FSYNC", "1")
    FileStore(str(tmp_path / "b")).save("f" * 40, _arrays()["big"])
    assert len(calls) == 1


def test_partial_writes_are_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel may write less than asked (signals, pipes, > 2 GiB): every byte still lands
    from jug.backends import file_store

    real = os.writev
    sizes: list[int] = []

    def short_writev(fd: int, buffers: list) -> int:
        first = memoryview(buffers[0])[:7]
        sizes.append(len(first))
        return real(fd, [first])

    monkeypatch.setattr(file_store.os, "writev", short_writev)
    arr = np.arange(1000, dtype=np.int16)
    store = FileStore(str(tmp_path / "jugdata"))
    store.save("g" * 40, arr)
    assert len(sizes) > 100
    assert np.array_equal(store.load("g" * 40), arr)
    assert Path(store.result_path("g" * 40)).read_bytes() == encode_result(arr)


def test_forged_shape_is_refused_before_allocating(store: FileStore) -> None:
    path = _saved(store, _arrays()["big"])
    data = path.read_bytes()
    shape = b"(%d,)" % (BIG // 8)
    assert shape in data[:200]
    forged = b"(" + b"9" * (len(shape) - 3) + b",)"  # same length: the header still parses
    path.write_bytes(data.replace(shape, forged, 1))
    with pytest.raises(CorruptResult, match="bytes of data"):
        store.load("c" * 40)
