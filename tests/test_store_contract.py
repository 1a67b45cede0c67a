"""One contract suite, run against every store backend (dict, file, Redis).

A backend is only usable by execute/status/cleanup if it keeps this contract: exact result
round-trips (numpy included, hundreds of MB included), atomic owner-recording locks, failure
marks, documents, bulk listings, and detection of damaged results.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

from jug.backends import select_store
from jug.backends.base import HEADER_SIZE, Claim, CorruptResult, Store
from jug.backends.owner import current_owner

BACKENDS = ["dict", "file", "redis"]


def H(name: str) -> str:
    """A task-hash-like key (40 hex digits) for a readable test name."""
    return hashlib.sha1(name.encode()).hexdigest()


@dataclass
class Backend:
    """A store under test plus what the suite needs to reach behind its back."""

    name: str
    store: Store
    spec: str  # jugdir string another process can open (empty: not shareable)
    corrupt: Callable[[str, str], None]  # corrupt(key, "flip" | "truncate")

    def reopen(self) -> Store:
        """A second, independent handle on the same store (another 'process')."""
        return self.store if not self.spec else select_store(self.spec)


def _damage(data: bytes, how: str) -> bytes:
    if how == "flip":
        i = HEADER_SIZE + (len(data) - HEADER_SIZE) // 2
        return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    return data[: HEADER_SIZE + (len(data) - HEADER_SIZE) // 2]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    """Each contract test runs once per backend."""
    name = request.param
    if name == "dict":
        store = select_store("dict_store")

        def corrupt(key: str, how: str) -> None:
            store._results[key] = _damage(store._results[key], how)

        return Backend(name, store, "", corrupt)
    if name == "file":
        spec = str(tmp_path / "jugdata")
        store = select_store(spec)

        def corrupt(key: str, how: str) -> None:
            path = store.result_path(key)
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(_damage(data, how))

        return Backend(name, store, spec, corrupt)
    url = request.getfixturevalue("redis_url")
    store = select_store(url)
    request.addfinalizer(store.close)

    def corrupt(key: str, how: str) -> None:
        raw = store._r
        rkey = store._rkey(key)
        data = raw.hget(rkey, "h") + raw.hget(rkey, "0")
        damaged = _damage(data, how)
        raw.hset(rkey, "0", damaged[HEADER_SIZE:])

    return Backend(name, store, url, corrupt)


# -- results -----------------------------------------------------------------------------
VALUES: list[Any] = [0, -7, 3.25, "text é", b"\x00bytes", None, True, [1, [2, 3]],
                     {"a": (1, 2), 3: {4}}, list(range(10_000)), "x" * 100_000]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_plain_values_round_trip(backend: Backend, value: Any) -> None:
    backend.store.save(H("k"), value)
    assert backend.store.load(H("k")) == value
    assert type(backend.reopen().load(H("k"))) is type(value)


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int8).reshape(3, 4),
    np.linspace(0, 1, 1001),
    np.array([[1.5, np.nan], [np.inf, -0.0]], dtype=np.float32),
    np.asfortranarray(np.arange(20, dtype=np.uint64).reshape(4, 5)),
    np.array(3.5),
    np.zeros((0, 3)),
    np.array([True, False]),
    np.array(["ab", "cde"]),
    np.array([(1, 2.0)], dtype=[("i", "<i4"), ("f", ">f8")]),
    np.arange(10)[::3],
], ids=lambda a: f"{a.dtype}-{a.shape}")
def test_numpy_arrays_round_trip_exactly(backend: Backend, array: np.ndarray) -> None:
    backend.store.save(H("arr"), array)
    out = backend.reopen().load(H("arr"))
    assert isinstance(out, np.ndarray)
    assert out.dtype == array.dtype and out.shape == array.shape
    assert out.tobytes() == array.tobytes()  # bitwise, NaN and -0.0 included


def test_large_array_round_trips_exactly(backend: Backend) -> None:
    rng = np.random.default_rng(5)
    big = rng.random(200 * 1024 * 1024 // 8)  # 200 MB of incompressible doubles
    backend.store.save(H("big"), big)
    assert backend.store.exists(H("big"))
    backend.store.verify(H("big"))
    out = backend.reopen().load(H("big"))
    assert out.shape == big.shape and out.dtype == big.dtype
    assert np.array_equal(out, big)
    del out
    assert backend.store.remove(H("big")) is True
    assert not backend.store.exists(H("big"))


def test_exists_list_remove(backend: Backend) -> None:
    s = backend.store
    assert list(s.list()) == []
    assert not s.exists(H("a")) and not s.can_load(H("a"))
    for k in ("a", "b", "c"):
        s.save(H(k), k.upper())
    assert sorted(s.list()) == sorted(H(k) for k in "abc")
    assert s.exists(H("b")) and s.can_load(H("b"))
    assert s.remove(H("b")) is True
    assert s.remove(H("b")) is False
    assert not s.exists(H("b"))
    assert sorted(backend.reopen().list()) == sorted(H(k) for k in "ac")
    with pytest.raises(KeyError):
        s.load(H("b"))


def test_save_overwrites(backend: Backend) -> None:
    backend.store.save(H("k"), np.arange(1000))
    backend.store.save(H("k"), "small now")
    assert backend.store.load(H("k")) == "small now"
    assert list(backend.store.list()) == [H("k")]


def test_load_missing_raises_keyerror(backend: Backend) -> None:
    with pytest.raises(KeyError):
        backend.store.load(H("nope"))
    with pytest.raises(KeyError):
        backend.store.verify(H("nope"))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_corrupt_result_is_detected(backend: Backend, how: str) -> None:
    backend.store.save(H("k"), np.arange(10_000))
    backend.corrupt(H("k"), how)
    with pytest.raises(CorruptResult) as e:
        backend.store.load(H("k"))
    assert e.value.key == H("k")
    assert ("checksum" in e.value.reason) if how == "flip" else ("truncated" in e.value.reason)


def test_verify_detects_truncation(backend: Backend) -> None:
    if type(backend.store).verify is Store.verify:
        pytest.skip(f"{backend.name} store has no integrity check in verify() (load still detects)")
    backend.store.save(H("k"), np.arange(10_000))
    backend.store.verify(H("k"))
    backend.corrupt(H("k"), "truncate")
    with pytest.raises(CorruptResult):
        backend.store.verify(H("k"))


# -- locks -------------------------------------------------------------------------------
def test_lock_is_exclusive_and_records_owner(backend: Backend) -> None:
    s, other = backend.store, backend.reopen()
    assert not s.is_locked(H("t"))
    assert s.lock_owner(H("t")) is None
    assert s.lock(H("t")) is True
    assert other.lock(H("t")) is False
    assert s.lock(H("t")) is False
    assert other.is_locked(H("t"))
    owner = other.lock_owner(H("t"))
    assert owner is not None
    assert owner["host"] == current_owner()["host"] and owner["pid"] == os.getpid()
    assert s.unlock(H("t")) is True
    assert not other.is_locked(H("t"))
    assert other.lock(H("t")) is True


def test_lock_with_explicit_owner(backend: Backend) -> None:
    who = {"host": "node17", "pid": 4242, "job": {"scheduler": "slurm", "queue_id": "9_3"}}
    assert backend.store.lock(H("t"), who) is True
    owner = backend.reopen().lock_owner(H("t"))
    assert owner["host"] == "node17" and owner["pid"] == 4242
    assert owner["job"]["queue_id"] == "9_3"


def test_unlock_not_held_is_harmless(backend: Backend) -> None:
    assert backend.store.unlock(H("never-locked")) is False
    assert not backend.store.is_locked(H("never-locked"))


def test_unlock_only_by_owner_force_unlock_by_anyone(backend: Backend) -> None:
    s = backend.store
    assert s.lock(H("t"), {"host": "elsewhere", "pid": 1})
    assert s.unlock(H("t")) is False
    assert s.is_locked(H("t")), "unlock() released a lock held by another process"
    assert s.lock_owner(H("t"))["host"] == "elsewhere"
    assert s.force_unlock(H("t")) is True
    assert not s.is_locked(H("t"))
    assert s.force_unlock(H("t")) is False


def test_force_unlock_removes_any_lock(backend: Backend) -> None:
    assert backend.store.lock(H("t"), {"host": "elsewhere", "pid": 1})
    backend.reopen().force_unlock(H("t"))
    assert not backend.store.is_locked(H("t"))
    assert backend.store.lock(H("t")) is True


def test_list_locks_and_remove_all(backend: Backend) -> None:
    s = backend.store
    assert s.list_locks() == {}
    s.lock(H("a"))
    s.lock(H("b"), {"host": "n2", "pid": 7})
    locks = backend.reopen().list_locks()
    assert set(locks) == {H("a"), H("b")}
    assert locks[H("a")]["pid"] == os.getpid()
    assert locks[H("b")]["host"] == "n2"
    assert s.remove_all_locks() == 2
    assert s.list_locks() == {}
    assert not s.is_locked(H("a"))


def test_heartbeat_refreshes_own_lock(backend: Backend) -> None:
    s = backend.store
    me = current_owner()
    me["heartbeat"] = 1000.0
    assert s.lock(H("t"), me)
    s.heartbeat(H("t"))
    beat = s.lock_owner(H("t"))["heartbeat"]
    assert beat > 1000.0 + 1e6
    s.heartbeat(H("not-locked"))  # no error, and no lock appears
    assert not s.is_locked(H("not-locked"))


def _race(spec: str, key: str, start, results) -> None:  # runs in a child process
    store = select_store(spec)
    start.wait()
    results.put((os.getpid(), store.lock(key)))


@pytest.mark.parametrize("backend", ["file", "redis"], indirect=True)  # dict: one process only
def test_lock_is_atomic_across_processes(backend: Backend) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        key = H(f"race{round_}")
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(backend.spec, key, start, results))
                 for _ in range(8)]
        for p in procs:
            p.start()
        start.set()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(60)
        winners = [pid for pid, won in outcomes if won]
        assert len(winners) == 1, f"round {round_}: {len(winners)} processes got the lock"
        assert backend.store.lock_owner(key)["pid"] == winners[0]


# -- failures ----------------------------------------------------------------------------
def test_failure_marks(backend: Backend) -> None:
    s = backend.store
    assert not s.is_failed(H("t")) and s.list_failed() == {}
    info = {"task": "jugfile.f", "error": "ValueError('x')", "traceback": "Traceback...\n",
            "owner": current_owner(), "when": object()}  # non-JSON values are stringified
    s.fail(H("t"), info)
    s.fail(H("u"), {"task": "g"})
    other = backend.reopen()
    assert other.is_failed(H("t"))
    failed = other.list_failed()
    assert set(failed) == {H("t"), H("u")}
    assert failed[H("t")]["error"] == "ValueError('x')" and failed[H("t")]["task"] == "jugfile.f"
    assert failed[H("t")]["owner"]["pid"] == os.getpid()
    assert s.clear_failed(H("t")) is True
    assert s.clear_failed(H("t")) is False
    assert not s.is_failed(H("t"))
    assert set(s.list_failed()) == {H("u")}


def test_failure_does_not_touch_results_or_locks(backend: Backend) -> None:
    s = backend.store
    s.save(H("t"), 1)
    s.lock(H("t"))
    s.fail(H("t"), {"task": "f"})
    assert s.exists(H("t")) and s.is_locked(H("t"))
    s.clear_failed(H("t"))
    assert s.load(H("t")) == 1 and s.is_locked(H("t"))


# -- documents ---------------------------------------------------------------------------
def test_documents(backend: Backend) -> None:
    s = backend.store
    assert s.read_docs("timings") == {}
    s.write_doc("timings", "w1", {"tasks": {"f": {"count": 2}}, "time": 1.5})
    s.write_doc("timings", "w2", {"tasks": {}})
    s.write_doc("submit", "w1", {"job": "123"})
    s.write_doc("timings", "w2", {"tasks": {"g": {"count": 1}}})  # overwrite
    other = backend.reopen()
    docs = other.read_docs("timings")
    assert docs == {"w1": {"tasks": {"f": {"count": 2}}, "time": 1.5},
                    "w2": {"tasks": {"g": {"count": 1}}}}
    assert other.read_docs("submit") == {"w1": {"job": "123"}}
    assert other.read_doc("timings", "w2") == {"tasks": {"g": {"count": 1}}}
    assert other.read_doc("timings", "w9") is None and s.read_doc("nothing", "w1") is None
    assert s.remove_doc("timings", "w1") is True
    assert s.remove_doc("timings", "w1") is False
    assert set(s.read_docs("timings")) == {"w2"}
    assert s.read_docs("submit") == {"w1": {"job": "123"}}


def test_cas_doc_writes_only_over_the_version_it_read(backend: Backend) -> None:
    """Compare-and-set on a version number: a writer holding an older copy never overwrites
    a newer one (issue 20: a planner's old chain record undid a cancel)."""
    s, other = backend.store, backend.reopen()
    assert s.cas_doc("chain", "c", {"status": "running"}, 0) is True
    assert s.read_docs("chain") == {"c": {"status": "running", "version": 1}}
    assert other.cas_doc("chain", "c", {"status": "other"}, 0) is False  # it exists now
    assert other.cas_doc("chain", "c", {"status": "cancelled"}, 1) is True
    assert s.cas_doc("chain", "c", {"status": "running", "generations": [2]}, 1) is False
    assert other.read_docs("chain")["c"] == {"status": "cancelled", "version": 2}
    assert s.cas_doc("chain", "c", {"status": "cancelled", "n": 3}, 2) is True
    assert s.read_docs("chain") == {"c": {"status": "cancelled", "n": 3, "version": 3}}
    assert s.remove_doc("chain", "c") is True and s.read_docs("chain") == {}
    assert s.cas_doc("chain", "c", {"again": 1}, 0) is True  # a removed doc starts over


def test_cas_doc_takes_over_a_plain_document(backend: Backend) -> None:
    """A record written by write_doc (an older jug) has version 0 and can be replaced."""
    s = backend.store
    s.write_doc("chain", "c", {"status": "running"})
    assert s.cas_doc("chain", "c", {"status": "x"}, 1) is False
    assert s.cas_doc("chain", "c", {"status": "done"}, 0) is True
    assert backend.reopen().read_docs("chain") == {"c": {"status": "done", "version": 1}}
    assert s.remove_doc("chain", "c") is True and s.read_docs("chain") == {}


def _increment(spec: str, start, results, rounds: int) -> None:  # runs in a child process
    store = select_store(spec)
    start.wait()
    lost = 0
    for _ in range(rounds):
        while True:
            doc = store.read_docs("count").get("n") or {}
            version = int(doc.get("version") or 0)
            if store.cas_doc("count", "n", {"value": int(doc.get("value") or 0) + 1}, version):
                break
            lost += 1
    results.put(lost)


@pytest.mark.parametrize("backend", ["file", "redis"], indirect=True)  # dict: one process only
def test_cas_doc_loses_no_update_across_processes(backend: Backend) -> None:
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_increment, args=(backend.spec, start, results, 25))
             for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    retries = sum(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
    doc = backend.store.read_docs("count")["n"]
    assert doc["value"] == 150 and doc["version"] == 150, (doc, retries)


def test_update_doc_is_a_change_of_what_is_stored(backend: Backend) -> None:
    s = backend.store
    seen = []

    def bump(doc):
        seen.append(doc)
        return {"n": (doc or {}).get("n", 0) + 1}

    assert s.update_doc("ns", "counter", bump) is True
    assert s.update_doc("ns", "counter", bump) is True
    assert seen == [None, {"n": 1}]
    assert backend.reopen().read_docs("ns")["counter"]["n"] == 2  # (and its cas version)


def _bump_many(spec: str, times: int, start) -> None:  # runs in a child process
    store = select_store(spec)
    start.wait()
    for _ in range(times):
        assert store.update_doc("ns", "counter",
                                lambda doc: {"n": (doc or {}).get("n", 0) + 1})


@pytest.mark.parametrize("backend", ["file", "redis"], indirect=True)  # dict: one process only
def test_update_doc_loses_no_update_across_processes(backend: Backend) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_bump_many, args=(backend.spec, 25, start)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 6
    assert backend.reopen().read_docs("ns")["counter"]["n"] == 150


def test_description(backend: Backend) -> None:
    d = backend.store.description
    assert d and d != "?"
    assert d in repr(backend.store)
    if backend.name == "redis":
        assert d.startswith("redis://127.0.0.1:")
    elif backend.name == "file":
        assert d == os.path.abspath(backend.spec)


def test_reclaim_removes_only_the_lock_judged_dead(backend: Backend) -> None:
    s = backend.store
    dead = {"host": "gone-host", "pid": 4242, "locked_at": 1.0, "heartbeat": 1.0, "job": None}
    assert s.lock(H("r"), dead)
    seen = backend.reopen().lock_owner(H("r"))
    assert s.reclaim(H("r"), seen) is True
    assert not s.is_locked(H("r"))
    assert s.reclaim(H("r"), seen) is False  # already gone: a second reclaimer gets nothing
    # a new owner took the lock after the judgement: its lock survives a stale reclaim
    assert s.lock(H("r"), {"host": "new-host", "pid": 7, "locked_at": 2.0, "heartbeat": 2.0})
    assert s.reclaim(H("r"), seen) is False
    assert s.lock_owner(H("r"))["host"] == "new-host"


def test_read_state_is_the_three_bulk_listings(backend: Backend) -> None:
    s = backend.store
    s.save(H("done"), 1)
    assert s.lock(H("run"))
    s.fail(H("bad"), {"task": "t.bad", "error": "ValueError()"})
    finished, locks, failed = s.read_state()
    assert sorted(finished) == [H("done")]
    assert set(locks) == {H("run")} and locks[H("run")]["pid"] == os.getpid()
    assert set(failed) == {H("bad")} and failed[H("bad")]["task"] == "t.bad"


def test_batching_store_publishes_a_claimed_result_by_the_next_request(backend: Backend) -> None:
    """In batching mode a backend may hold a claimed task's result back; the next claim (or any
    other request, or flush) publishes it and releases its lock."""
    s = backend.store
    other = backend.reopen()
    s.batching = True
    try:
        assert s.claim(H("a")) == (True, False, False)
        s.save(H("a"), 11)
        s.unlock(H("a"))
        assert s.claim(H("b")) == (True, False, False)
        assert other.load(H("a")) == 11 and not other.is_locked(H("a"))
        s.save(H("b"), 22)
        s.unlock(H("b"))
        s.flush()
        assert other.load(H("b")) == 22 and other.list_locks() == {}
        assert sorted(other.list()) == sorted([H("a"), H("b")])
    finally:
        s.batching = False


def test_heartbeat_leaves_a_kept_back_result_to_the_main_thread(backend: Backend) -> None:
    """The heartbeat thread must not send (and on failure silently drop) a batched result."""
    s = backend.store
    s.batching = True
    try:
        assert s.claim(H("a"))[0]
        s.save(H("a"), 5)
        s.heartbeat(H("a"))
        if backend.name == "redis":  # the batching backend: still the main thread's to send
            assert not backend.reopen().exists(H("a"))
        s.unlock(H("a"))
        s.flush()
        assert backend.reopen().load(H("a")) == 5 and s.list_locks() == {}
    finally:
        s.batching = False


def test_claim_names_what_it_found(backend: Backend) -> None:
    s = backend.store
    s.save(H("done"), 1)
    s.fail(H("bad"), {"error": "x"})
    assert s.claim(H("new")) == Claim(locked=True, done=False, failed=False)
    assert s.claim(H("done")).done and s.claim(H("bad")).failed
    assert backend.reopen().claim(H("new")).locked is False  # held: not ours again
    assert all(s.unlock(H(k)) for k in ("new", "done", "bad"))


def test_remove_stale_temporaries_is_part_of_every_store(backend: Backend) -> None:
    s = backend.store
    s.save(H("kept"), [1, 2])
    assert s.remove_stale_temporaries() == 0  # nothing half-written: nothing removed
    assert s.load(H("kept")) == [1, 2]
