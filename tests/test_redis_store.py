"""Redis-specific behaviour of the Redis store: URLs, passwords, connection failures, bulk
round trips, chunked atomic results, prefixes, owner-checked locks across processes."""

from __future__ import annotations

import multiprocessing
import pickle
import time

import numpy as np
import pytest
from redis_fixture import PASSWORD, RedisServer, free_port, require_redis

from jug.backends import select_store
from jug.backends.base import StoreError

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    """Skip (fail in CI) without redis-server / redis-py."""
    require_redis()


def _store(url: str, **kw):
    from jug.backends.redis_store import RedisStore

    return RedisStore(url, **kw)


def _commands(server: RedisServer) -> int:
    c = server.client()
    try:
        return int(c.info("stats")["total_commands_processed"])
    finally:
        c.close()


# -- URLs --------------------------------------------------------------------------------
def test_parse_url_defaults_and_parts() -> None:
    from jug.backends.redis_store import parse_url

    cfg = parse_url("redis://example.org")
    assert (cfg["host"], cfg["port"], cfg["db"], cfg["password"]) == ("example.org", 6379, 0, None)
    assert cfg["prefix"] == "jug:"
    cfg = parse_url("redis://:p%40ss@10.0.0.5:6390/3?prefix=proj:&socket_timeout=5")
    assert (cfg["host"], cfg["port"], cfg["db"]) == ("10.0.0.5", 6390, 3)
    assert cfg["password"] == "p@ss" and cfg["prefix"] == "proj:" and cfg["socket_timeout"] == 5.0
    cfg = parse_url("redis://user:pw@h:1/")
    assert cfg["username"] == "user" and cfg["password"] == "pw" and cfg["db"] == 0
    cfg = parse_url("redis://[::1]:6390/2")
    assert (cfg["host"], cfg["port"], cfg["db"]) == ("::1", 6390, 2)


def test_ipv6_server_is_named_with_brackets() -> None:
    port = free_port()
    with pytest.raises(StoreError, match=rf"cannot reach Redis at \[::1\]:{port}"):
        select_store(f"redis://[::1]:{port}/0")


@pytest.mark.parametrize("url, words", [
    ("redis://h:6379/notanumber", "database"),
    ("redis://h:99999999/0", "invalid Redis URL"),
    ("redis://h/0?colour=blue", "unknown option"),
    ("redis://h/0?socket_timeout=soon", "timeout"),
    ("http://h/0", "not a Redis URL"),
])
def test_bad_urls_give_clear_errors(url: str, words: str) -> None:
    from jug.backends.redis_store import parse_url

    with pytest.raises(StoreError, match=words):
        parse_url(url)


def test_select_store_picks_redis(redis_url: str) -> None:
    from jug.backends.redis_store import RedisStore

    store = select_store(redis_url)
    assert isinstance(store, RedisStore)
    assert store.description == redis_url
    store.close()


def test_missing_redis_py_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import jug.backends.redis_store as rs

    monkeypatch.setattr(rs, "redis", None)
    with pytest.raises(StoreError, match=r"pip install 'jug\[redis\]'"):
        rs.RedisStore("redis://127.0.0.1:1/0")


# -- passwords ---------------------------------------------------------------------------
def test_password_server_works_with_password(redis_password_url: str) -> None:
    store = _store(redis_password_url)
    store.save("ab" * 20, [1, 2])
    assert store.load("ab" * 20) == [1, 2]
    assert store.lock("cd" * 20)
    assert PASSWORD not in store.description and PASSWORD not in repr(store)
    assert store.description.startswith("redis://127.0.0.1:")
    store.close()


def test_password_server_without_password_is_refused(redis_password_server: RedisServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUG_REDIS_PASSWORD", raising=False)
    url = f"redis://127.0.0.1:{redis_password_server.port}/0"
    with pytest.raises(StoreError) as e:
        _store(url)
    msg = str(e.value)
    assert f"127.0.0.1:{redis_password_server.port}" in msg and "password" in msg.lower()


def test_wrong_password_is_refused_without_echoing_it(redis_password_server: RedisServer) -> None:
    url = f"redis://:wrong-guess@127.0.0.1:{redis_password_server.port}/0"
    with pytest.raises(StoreError) as e:
        _store(url)
    msg = str(e.value)
    assert "authentication" in msg.lower() and "wrong-guess" not in msg


# -- connection failures -----------------------------------------------------------------
def test_unreachable_server_names_host_and_port() -> None:
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(StoreError) as e:
        select_store(f"redis://127.0.0.1:{port}/0")
    assert time.monotonic() - t0 < 10, "refused connections should fail fast"
    msg = str(e.value)
    assert f"cannot reach Redis at 127.0.0.1:{port}" in msg
    assert "Connection refused" in msg and "redis-server" in msg


def test_server_gone_mid_use_raises_store_error(redis_server_factory) -> None:
    server = redis_server_factory()
    store = _store(server.url)
    store.save("aa" * 20, 1)
    server.stop()
    with pytest.raises(StoreError, match=f"127.0.0.1:{server.port}"):
        store.save("bb" * 20, np.arange(10))
    with pytest.raises(StoreError, match="cannot reach Redis"):
        store.exists("aa" * 20)


def test_frozen_server_times_out_with_clear_error(redis_server_factory) -> None:
    server = redis_server_factory()
    store = _store(server.url + "?socket_timeout=0.5")
    store.save("aa" * 20, 1)
    server.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="did not answer in time"):
            store.load("aa" * 20)
        assert time.monotonic() - t0 < 15
    finally:
        server.resume()
    assert store.load("aa" * 20) == 1  # recovers once the server answers again


def test_dropped_connection_reconnects_transparently(redis_server: RedisServer, redis_url: str) -> None:
    store = _store(redis_url)
    store.save("aa" * 20, "before")
    admin = redis_server.client()
    killed = admin.client_kill_filter(_type="normal", skipme=True)
    admin.close()
    assert killed >= 1
    assert store.load("aa" * 20) == "before"
    store.save("bb" * 20, "after")
    assert sorted(store.list()) == ["aa" * 20, "bb" * 20]


# -- bulk operations: constant commands whatever N ------------------------------------
def _bulk_cost(server: RedisServer, store, n: int) -> tuple[int, int]:
    pipe = store._r.pipeline(transaction=False)
    for i in range(n):
        h = f"{i:040x}"
        pipe.sadd(store._k_done, h)
        pipe.hset(store._k_locks, h, '{"host": "x", "pid": 1}')
        pipe.hset(store._k_failed, h, '{"task": "t"}')
        pipe.hset(store._dkey("timings"), h, "{}")
    pipe.execute()
    before = _commands(server)
    assert len(store.list()) == n
    assert len(store.list_locks()) == n
    assert len(store.list_failed()) == n
    assert len(store.read_docs("timings")) == n
    return _commands(server) - before, n


def test_bulk_listings_cost_constant_commands(redis_server: RedisServer, redis_url: str) -> None:
    store = _store(redis_url)
    small, _ = _bulk_cost(redis_server, store, 10)
    store.clear()
    large, _ = _bulk_cost(redis_server, store, 5000)
    assert small == large, f"listing 10 vs 5000 tasks took {small} vs {large} commands"
    assert large <= 6  # 4 listings + the INFO call that measures them
    stats = redis_server.client().info("commandstats")
    assert "cmdstat_keys" not in stats, "KEYS must never be used"


# -- chunked results ---------------------------------------------------------------------
def test_chunked_result_round_trips_and_is_published_whole(redis_url: str) -> None:
    store = _store(redis_url, chunk_size=1000)
    arr = np.random.default_rng(1).random(5000)  # 40 kB -> 41 chunks
    key = "ee" * 20
    store.save(key, arr)
    raw = store._r
    assert raw.hlen(store._rkey(key)) == 41 + 1  # chunks + header field
    assert raw.ttl(store._rkey(key)) == -1, "published result must not expire"
    assert list(raw.scan_iter(match=f"{store.prefix}tmp:*")) == []
    store.verify(key)
    assert np.array_equal(store.load(key), arr)
    store.save(key, "small")  # overwriting a chunked result leaves no stale chunks
    assert raw.hlen(store._rkey(key)) == 2
    assert store.load(key) == "small"


def test_interrupted_chunked_save_leaves_no_result(redis_url: str, monkeypatch) -> None:
    import redis as redis_py

    store = _store(redis_url, chunk_size=1000)
    key = "ff" * 20
    real_pipeline = store._r.pipeline

    def failing_pipeline(transaction: bool = True, **kw):
        pipe = real_pipeline(transaction=transaction, **kw)
        if transaction:  # the final publish step: the connection "drops" here
            def boom(*a, **k):
                raise redis_py.ConnectionError("Connection reset by peer")
            pipe.execute = boom
        return pipe

    monkeypatch.setattr(store._r, "pipeline", failing_pipeline)
    with pytest.raises(StoreError, match="cannot reach Redis"):
        store.save(key, np.arange(5000))
    monkeypatch.undo()
    assert not store.exists(key)
    assert list(store.list()) == []
    tmp = list(store._r.scan_iter(match=f"{store.prefix}tmp:*"))
    assert len(tmp) == 1 and 0 < store._r.ttl(tmp[0]) <= 24 * 3600  # expires on its own
    assert store.remove_stale_temporaries(older_than=0) == 1
    assert list(store._r.scan_iter(match=f"{store.prefix}tmp:*")) == []


# -- namespaces --------------------------------------------------------------------------
def test_prefixes_and_databases_are_isolated(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    a = _store(base + "/0?prefix=projA:")
    b = _store(base + "/0?prefix=projB:")
    c = _store(base + "/1")
    for s in (a, b, c):
        s.save("11" * 20, s.description)
        assert s.lock("22" * 20)
        s.fail("33" * 20, {"task": s.description})
        s.write_doc("ns", "n", {"who": s.description})
    for s in (a, b, c):
        assert s.load("11" * 20) == s.description
        assert s.list_failed()["33" * 20]["task"] == s.description
        assert s.read_docs("ns") == {"n": {"who": s.description}}
    assert "prefix=projA:" in a.description and c.description.endswith("/1")
    assert a.clear() >= 4
    assert list(a.list()) == [] and a.list_locks() == {}
    assert b.load("11" * 20) == b.description and b.is_locked("22" * 20)
    assert c.load("11" * 20) == c.description


def test_pickled_store_reopens_same_database(redis_url: str) -> None:
    store = _store(redis_url)
    store.save("aa" * 20, 42)
    copy = pickle.loads(pickle.dumps(store))
    assert copy is not store and copy.description == store.description
    assert copy.load("aa" * 20) == 42


# -- locks across processes --------------------------------------------------------------
def _child_unlock_and_beat(url: str, key: str, q) -> None:
    store = _store(url)
    store.unlock(key)
    store.heartbeat(key)
    q.put(store.is_locked(key))


def test_other_process_cannot_unlock_or_heartbeat(redis_url: str) -> None:
    store = _store(redis_url)
    key = "aa" * 20
    assert store.lock(key)
    before = store.lock_owner(key)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_unlock_and_beat, args=(redis_url, key, q))
    p.start()
    assert q.get(timeout=30) is True
    p.join(30)
    assert store.lock_owner(key) == before, "a non-owner changed the lock record"
    assert store.unlock(key) is True
    assert not store.is_locked(key)


def test_lock_counts_as_ours_after_lost_reply(redis_url: str, monkeypatch) -> None:
    store = _store(redis_url)
    real = store._r.hsetnx

    def applied_but_reply_lost(*args):  # first attempt landed, the retry sees the field set
        real(*args)
        return 0

    monkeypatch.setattr(store._r, "hsetnx", applied_but_reply_lost)
    assert store.lock("aa" * 20) is True
    assert store.lock("aa" * 20) is False  # a genuine second attempt is still refused


def test_inherited_store_works_in_forked_child(redis_url: str) -> None:
    store = _store(redis_url)
    store.save("aa" * 20, "parent")
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()

    def child() -> None:
        store.save("bb" * 20, "child")
        q.put(store.load("aa" * 20))

    p = ctx.Process(target=child)
    p.start()
    assert q.get(timeout=30) == "parent"
    p.join(30)
    assert p.exitcode == 0
    assert store.load("bb" * 20) == "child"


def test_failed_chunk_write_removes_its_temporary_key(redis_url: str, monkeypatch) -> None:
    import redis as redis_py

    store = _store(redis_url, chunk_size=1000)
    key = "ab" * 20
    store.save(key, "old value")
    real_pipeline = store._r.pipeline
    calls = {"n": 0}

    def pipeline_failing_on_third_chunk(transaction: bool = True, **kw):
        pipe = real_pipeline(transaction=transaction, **kw)
        real_execute = pipe.execute

        def execute(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise redis_py.ResponseError("OOM command not allowed when used memory > 'maxmemory'")
            return real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(store._r, "pipeline", pipeline_failing_on_third_chunk)
    with pytest.raises(StoreError, match="OOM"):
        store.save(key, np.arange(5000))
    monkeypatch.undo()
    assert store.load(key) == "old value", "a failed save must leave the previous result intact"
    assert list(store._r.scan_iter(match=f"{store.prefix}tmp:*")) == []


def test_out_of_range_database_is_explained(redis_server: RedisServer) -> None:
    with pytest.raises(StoreError, match="databases 0-15"):
        _store(f"redis://127.0.0.1:{redis_server.port}/99")


def test_unlock_by_non_owner_warns(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = _store(redis_url)
    assert store.lock("aa" * 20, {"host": "node3", "pid": 99})
    with caplog.at_level("WARNING"):
        assert store.unlock("aa" * 20) is False
    assert "node3:99" in caplog.text
    assert store.unlock("bb" * 20) is False and "bb" * 20 not in caplog.text  # not held: silent


def test_verify_many_finds_bad_results_in_few_round_trips(redis_url: str, monkeypatch) -> None:
    from jug.backends.base import CorruptResult

    store = _store(redis_url)
    keys = [f"{i:040x}" for i in range(3000)]
    for k in keys:
        store.save(k, k)
    rkey = store._rkey(keys[7])
    store._r.hset(rkey, "0", store._r.hget(rkey, "0")[:-3])  # truncated payload
    store._r.hset(store._rkey(keys[9]), "h", b"garbage")  # not a result header
    store._r.delete(store._rkey(keys[11]))  # vanished
    real_pipeline, pipelines = store._r.pipeline, []
    monkeypatch.setattr(store._r, "pipeline", lambda *a, **k: pipelines.append(1) or real_pipeline(*a, **k))
    bad = store.verify_many(keys)
    monkeypatch.undo()
    assert set(bad) == {keys[7], keys[9], keys[11]}
    assert isinstance(bad[keys[7]], CorruptResult) and "header says" in bad[keys[7]].reason
    assert isinstance(bad[keys[9]], CorruptResult) and isinstance(bad[keys[11]], KeyError)
    assert store.verify_many([]) == {}
    assert len(pipelines) == 2  # 3000 keys in batches of 2000: two round trips


@pytest.mark.parametrize("n, fields", [(10, 2), (200_000, 2), (1_000_000, 5)],
                         ids=["script", "one-chunk-multi", "four-chunks-rename"])
def test_every_save_path_round_trips(redis_url: str, n: int, fields: int) -> None:
    store = _store(redis_url, chunk_size=2 * 1024 * 1024)
    arr = np.random.default_rng(n).random(n)
    key = "cd" * 20
    store.save(key, "previous")  # every path must replace an existing result
    store.save(key, arr)
    assert store._r.hlen(store._rkey(key)) == fields
    assert list(store.list()) == [key]
    store.verify(key)
    assert np.array_equal(store.load(key), arr)


def test_claim_locks_and_reports_state_in_one_call(redis_url: str) -> None:
    store = _store(redis_url)
    a, b, c = "a1" * 20, "b2" * 20, "c3" * 20
    store.save(b, 1)
    store.fail(c, {"task": "f"})
    assert store.claim(a) == (True, False, False)
    assert store.claim(a) == (False, False, False)  # held: not ours again
    assert store.claim(b) == (True, True, False)
    assert store.claim(c) == (True, False, True)
    owner = store.lock_owner(c)
    assert owner["host"] == store.lock_owner(a)["host"] and "token" in owner
    assert store.unlock(a) and store.unlock(b) and store.unlock(c)
    assert store.list_locks() == {}


def test_password_from_environment(redis_password_server: RedisServer, monkeypatch) -> None:
    url = f"redis://127.0.0.1:{redis_password_server.port}/0"
    monkeypatch.setenv("JUG_REDIS_PASSWORD", PASSWORD)
    store = _store(url)
    store.save("ab" * 20, "via env")
    assert store.load("ab" * 20) == "via env"
    assert store.description == url
    monkeypatch.setenv("JUG_REDIS_PASSWORD", "not-it")
    with pytest.raises(StoreError, match="JUG_REDIS_PASSWORD"):
        _store(url)
