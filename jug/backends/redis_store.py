"""The Redis store (``--jugdir redis://[:password@]host:port/[db]``), for clusters whose
shared filesystem copes badly with many small files.

The password may also come from the environment variable ``JUG_REDIS_PASSWORD`` (so that it
does not show in ``ps`` or batch-queue listings).

Layout (every key starts with the prefix, ``jug:`` unless ``?prefix=...`` is given)::

    jug:r:<hash>     HASH: field ``h`` = result header, fields ``0``..``n-1`` = payload chunks
    jug:done         SET of every hash with a result (``list()`` is one SMEMBERS)
    jug:locks        HASH hash -> owner JSON (``lock`` is HSETNX, ``list_locks`` one HGETALL)
    jug:failed       HASH hash -> failure JSON
    jug:d:<ns>       HASH name -> document JSON
    jug:tmp:<hash>:<nonce>   a large result being written (expires if the writer dies)

Results are framed by :func:`jug.backends.base.encode_result` (length + CRC-32), split into
chunks well below Redis's 512 MB string limit, and published atomically: small results by one
Lua script call, one-chunk results in one MULTI/EXEC, larger ones written under a temporary key
then RENAMEd in one MULTI/EXEC.  A reader sees the whole result or none of it, and a writer that
loses its connection leaves no result behind.  Status-type queries are a constant number of
commands whatever the number of tasks.  The server must not evict keys (``maxmemory-policy noeviction``, Redis's default).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from . import owner as _owner
from .base import (
    HEADER_SIZE,
    Claim,
    CorruptResult,
    Store,
    StoreError,
    UnsavedResult,
    check_header,
    decode_result,
    encode_result,
)

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry
except ImportError:  # redis-py is an optional dependency: jug[redis]
    redis = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_PORT = 6379
PASSWORD_ENV = "JUG_REDIS_PASSWORD"  # password when the URL has none (keeps it out of `ps`)
DEFAULT_PREFIX = "jug:"
CHUNK_SIZE = 64 * 1024 * 1024  # well below Redis's 512 MB bulk-string limit
_SCRIPT_SAVE_MAX = 1024 * 1024  # results up to this size are saved by one Lua call
TMP_TTL = 24 * 3600  # a half-written large result disappears after a day
_HEADER_FIELD = b"h"

# Publish a one-chunk result: replace the result hash and mark it done, atomically.
_SAVE_LUA = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], '0', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# Take a lock (HSETNX) and report, in the same atomic step, whether the task has a result or
# a failure mark: {locked, has_result, failed}.
_CLAIM_LUA = """
local got = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return {got, redis.call('EXISTS', KEYS[2]), redis.call('HEXISTS', KEYS[3], ARGV[1])}
"""

# Release a lock only if this host+pid owns it: 1 released, 0 held by another, -1 not held.
_RELEASE = """
local function release(locks, key, host, pid)
  local cur = redis.call('HGET', locks, key)
  if not cur then return -1 end
  -- jug writes every record as {"host": ..., "pid": ..., ...}: a prefix test first (a
  -- fifth of cjson.decode's time); anything else is decoded
  local sig = '{"host": ' .. cjson.encode(host) .. ', "pid": ' .. pid .. ', '
  if string.sub(cur, 1, #sig) == sig then
    redis.call('HDEL', locks, key)
    return 1
  end
  local ok, owner = pcall(cjson.decode, cur)
  if ok and type(owner) == 'table' and tostring(owner['host']) == host
     and tostring(owner['pid']) == pid then
    redis.call('HDEL', locks, key)
    return 1
  end
  return 0
end
"""

_UNLOCK_LUA = _RELEASE + "return release(KEYS[1], ARGV[1], ARGV[2], ARGV[3])"

# Publish a finished task's result and release its lock, atomically (one round trip):
# KEYS rkey, done, locks; ARGV key, header, payload, host, pid.
_PUBLISH = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[2], '0', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
local released = release(KEYS[3], ARGV[1], ARGV[4], ARGV[5])
"""
_FINISH_LUA = _RELEASE + _PUBLISH + "return released"

# The same, then claim the next task (KEYS next rkey, failed; ARGV next key, owner record):
# the whole per-task conversation of a worker in one round trip.
_FINISH_CLAIM_LUA = _RELEASE + _PUBLISH + """
local got = redis.call('HSETNX', KEYS[3], ARGV[6], ARGV[7])
return {released, got, redis.call('EXISTS', KEYS[4]), redis.call('HEXISTS', KEYS[5], ARGV[6])}
"""

# Compare-and-swap one hash field: replace it with ARGV[3] only if it still equals ARGV[2].
_CAS_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""

# Compare-and-delete one hash field: remove it only if it still equals ARGV[2].
_CAD_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# Compare-and-set a document on its version: write ARGV[3] only if the stored document's
# "version" (0: none, or no document) is still ARGV[2]; the writer's token ARGV[4] goes to
# KEYS[2], so that a call redis-py retried after a lost reply knows its own write.
_CAS_DOC_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local v = 0
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and tonumber(doc['version']) then v = tonumber(doc['version']) end
end
if v ~= tonumber(ARGV[2]) then
  if v == tonumber(ARGV[2]) + 1 and redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[4] then
    return 1
  end
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return 1
"""

# Header and total payload length of a result, without transferring the payload.
_VERIFY_LUA = """
local n = redis.call('HLEN', KEYS[1])
if n == 0 then return false end
local header = redis.call('HGET', KEYS[1], 'h')
if not header then header = '' end
local total = 0
for i = 0, n - 2 do
  total = total + redis.call('HSTRLEN', KEYS[1], tostring(i))
end
return {header, total, n - 1}
"""


def parse_url(url: str) -> dict[str, Any]:
    """Split ``redis://[user][:password@]host[:port][/db][?prefix=...]`` into connection settings."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise StoreError(f"invalid Redis URL {_hide_password(url)!r}: {e}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise StoreError(f"not a Redis URL: {_hide_password(url)!r} (expected redis://host:port/db)")
    host = parts.hostname or "127.0.0.1"
    path = parts.path.strip("/")
    try:
        db = int(path) if path else 0
    except ValueError:
        raise StoreError(f"invalid Redis database {path!r} in {_hide_password(url)!r}: "
                         "expected a number, e.g. redis://host:6379/0") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"prefix", "socket_timeout", "connect_timeout"}
    if unknown:
        raise StoreError(f"unknown option(s) {sorted(unknown)} in Redis URL {_hide_password(url)!r}; "
                         "known: prefix, socket_timeout, connect_timeout")
    try:
        socket_timeout = float(query.get("socket_timeout", 120))
        connect_timeout = float(query.get("connect_timeout", 10))
    except ValueError as e:
        raise StoreError(f"invalid timeout in Redis URL {_hide_password(url)!r}: {e}") from None
    return {
        "scheme": parts.scheme,
        "host": host,
        "port": port or DEFAULT_PORT,
        "db": db,
        "username": unquote(parts.username) if parts.username else None,
        "password": (unquote(parts.password) if parts.password is not None
                     else os.environ.get(PASSWORD_ENV) or None),
        "prefix": query.get("prefix", DEFAULT_PREFIX),
        "socket_timeout": socket_timeout,
        "connect_timeout": connect_timeout,
    }


def _hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return parts._replace(netloc=f"{user}:***@{netloc}").geturl()
    except ValueError:
        return "<unparsable Redis URL>"


class RedisStore(Store):
    """Results, locks, failure marks and documents in one Redis database."""

    #: unlock() releases only a lock held by this host and pid (force_unlock removes any)

    def __init__(self, url: str, chunk_size: int = CHUNK_SIZE) -> None:
        if redis is None:
            raise StoreError("the Redis store needs the redis Python package: "
                             "pip install 'jug[redis]'  (or: pip install redis)")
        cfg = parse_url(url)
        self._url = url
        self.host: str = cfg["host"]
        self.port: int = cfg["port"]
        self.db: int = cfg["db"]
        self.prefix: str = cfg["prefix"]
        self.chunk_size = int(chunk_size)
        suffix = "" if self.prefix == DEFAULT_PREFIX else f"?prefix={self.prefix}"
        self._where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        self.description = f"{cfg['scheme']}://{self._where}/{self.db}{suffix}"
        self._has_password = cfg["password"] is not None
        self._r = redis.Redis(
            host=self.host, port=self.port, db=self.db,
            username=cfg["username"], password=cfg["password"],
            ssl=cfg["scheme"] == "rediss",
            socket_timeout=cfg["socket_timeout"], socket_connect_timeout=cfg["connect_timeout"],
            socket_keepalive=True, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        )
        p = self.prefix
        self._k_done = f"{p}done"
        self._k_locks = f"{p}locks"
        self._k_failed = f"{p}failed"
        self._save_script = self._r.register_script(_SAVE_LUA)
        self._claim_script = self._r.register_script(_CLAIM_LUA)
        self._unlock_script = self._r.register_script(_UNLOCK_LUA)
        self._cas_script = self._r.register_script(_CAS_LUA)
        self._cad_script = self._r.register_script(_CAD_LUA)
        self._cas_doc_script = self._r.register_script(_CAS_DOC_LUA)
        self._verify_script = self._r.register_script(_VERIFY_LUA)
        self._finish_script = self._r.register_script(_FINISH_LUA)
        self._finish_claim_script = self._r.register_script(_FINISH_CLAIM_LUA)
        self._lane: Any = None  # this process's own connection for the claim scripts
        self._lane_lock = threading.Lock()
        self._claimed: str | None = None  # the task this process locked last with claim()
        self._pending: tuple[str, bytes, bytes] | None = None  # (key, header, payload)
        self._pending_lock = threading.Lock()  # the heartbeat thread may flush too
        with self._errors():  # fail now, with a clear message, rather than at the first task
            self._r.ping()

    # -- helpers ---------------------------------------------------------------------
    @contextmanager
    def _errors(self, flush: bool = True) -> Iterator[None]:
        """Turn redis-py exceptions into StoreErrors that name the server; first send a result
        kept back by batching (``flush``), so that every later request sees it."""
        where = self._where
        try:
            if flush:
                self._publish_pending()
            yield
        except redis.AuthenticationError as e:
            hint = (f"check the password (redis://:PASSWORD@host:port/db or ${PASSWORD_ENV})"
                    if self._has_password else "the server needs a password: use "
                    f"redis://:PASSWORD@host:port/db or set ${PASSWORD_ENV}")
            raise StoreError(f"Redis at {where} refused authentication ({e}); {hint}") from None
        except redis.TimeoutError as e:
            raise StoreError(f"Redis at {where} did not answer in time ({e}); is the server "
                             "overloaded or the network down?") from None
        except redis.ConnectionError as e:
            raise StoreError(f"cannot reach Redis at {where}: {_reason(e)}; "
                             "is redis-server running?") from None
        except redis.ResponseError as e:
            msg = str(e)
            if msg.startswith(("NOAUTH", "WRONGPASS", "NOPERM", "AUTH")):
                raise StoreError(f"Redis at {where} refused access ({msg}); give the password as "
                                 f"redis://:PASSWORD@host:port/db or in ${PASSWORD_ENV}") from None
            if "DB index is out of range" in msg:
                msg += " (a default server has databases 0-15: redis://host:port/0)"
            raise StoreError(f"Redis at {where} returned an error: {msg}") from None

    def _hot(self, script: Any, keys: list, args: list) -> Any:
        """Run ``script`` on this process's own connection, past redis-py's pool, retry and
        metrics layers (about 80 us of a claim's round trip on loopback).

        Only what redis-py's own retry would retry is handed to the regular call (which
        reconnects, backs off and reloads a script the server lost): a lost connection or a
        timeout (the claim scripts may run twice: the second run finds the lock already its
        own, see :meth:`claim`), and NOSCRIPT (the script did not run).  Any other reply error
        is the caller's, as from the regular call.
        """
        with self._lane_lock:
            lane = self._lane
            if lane is None or lane.pid != os.getpid():
                lane = self._lane = self._r.connection_pool.make_connection()
            try:
                lane.send_packed_command(lane.pack_command(
                    "EVALSHA", script.sha, len(keys), *keys, *args))
                return lane.read_response()
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                lane.disconnect()
            except redis.exceptions.NoScriptError:
                pass
        return script(keys=keys, args=args)

    def _rkey(self, key: str) -> str:
        """The Redis key of the result hash of task ``key``."""
        return f"{self.prefix}r:{key}"

    # -- batching (jug execute) --------------------------------------------------------
    def _defer(self, key: str, header: memoryview, payload: memoryview) -> bool:
        """In batching mode keep the small result of the task claimed last for the next round
        trip, which publishes it and releases its lock; False: save it now."""
        if not (self.batching and key == self._claimed and len(payload) <= _SCRIPT_SAVE_MAX):
            return False
        self.flush()  # at most one result waits
        with self._pending_lock:
            self._pending = (key, bytes(header), bytes(payload))
        self._claimed = None
        return True

    def _take_pending(self) -> tuple[str, bytes, bytes] | None:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        return pending

    def _publish_pending(self) -> None:
        """Publish the deferred result (if any) and release its lock: one round trip."""
        pending = self._take_pending()
        if pending is not None:
            key, header, payload = pending
            try:
                with self._errors(flush=False):
                    self._finish_script(keys=[self._rkey(key), self._k_done, self._k_locks],
                                        args=[key, header, payload, *self._me()])
            except StoreError as e:
                raise UnsavedResult(key, str(e)) from None

    @contextmanager
    def _unsaved(self, pending: tuple[str, bytes, bytes] | None) -> Iterator[None]:
        """A request that also carries ``pending``: its failure is that result's loss."""
        try:
            yield
        except StoreError as e:
            if pending is None:
                raise
            raise UnsavedResult(pending[0], str(e)) from None

    def flush(self) -> None:
        """Publish a result kept back in batching mode (execute calls this before it stops)."""
        if self._pending is not None:
            with self._errors():
                pass

    @staticmethod
    def _me() -> tuple[str, str]:
        """This process as lock scripts compare it: (host, pid)."""
        me = _owner.current_owner()
        return str(me["host"]), str(me["pid"])

    # -- results ---------------------------------------------------------------------
    def save(self, key: str, value: Any) -> None:
        """Publish the framed result atomically (script, MULTI/EXEC, or temp key + RENAME)."""
        data = memoryview(encode_result(value))
        header, payload = data[:HEADER_SIZE], data[HEADER_SIZE:]
        if self._defer(key, header, payload):
            return
        size = self.chunk_size
        chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [payload]
        rkey = self._rkey(key)
        with self._errors():
            if len(chunks) == 1 and len(payload) <= _SCRIPT_SAVE_MAX:
                # one script call (atomic, one round trip, one reply): the tiny-task fast path
                self._save_script(keys=[rkey, self._k_done],
                                  args=[bytes(header), bytes(payload), key])
                return
            if len(chunks) == 1:
                pipe = self._r.pipeline(transaction=True)
                pipe.delete(rkey)
                pipe.hset(rkey, mapping={_HEADER_FIELD: header, b"0": payload})
                pipe.sadd(self._k_done, key)
                pipe.execute()
                return
            tmp = f"{self.prefix}tmp:{key}:{uuid.uuid4().hex}"
            try:
                for i, chunk in enumerate(chunks):  # one command per chunk: bounded request size
                    pipe = self._r.pipeline(transaction=False)
                    pipe.hset(tmp, str(i), chunk)
                    if i == 0:
                        pipe.hset(tmp, _HEADER_FIELD, header)
                        pipe.expire(tmp, TMP_TTL)
                    pipe.execute()
            except BaseException:
                self._discard(tmp)
                raise
            pipe = self._r.pipeline(transaction=True)
            pipe.rename(tmp, rkey)
            pipe.persist(rkey)
            pipe.sadd(self._k_done, key)
            try:
                pipe.execute()
            except redis.ResponseError as e:
                # a RENAME retried after its reply was lost finds no temp key: the first
                # attempt published the result
                if ("no such key" in str(e).lower() and not self._r.exists(tmp)
                        and self._r.exists(rkey)):
                    return
                raise

    def _discard(self, key: str) -> None:
        """Best-effort removal of a half-written temporary key (it expires anyway)."""
        try:
            self._r.delete(key)
        except redis.RedisError:
            pass

    def _fetch(self, key: str) -> dict[bytes, bytes]:
        """All fields (header and chunks) of a result in one HGETALL; KeyError if absent."""
        with self._errors():
            fields = self._r.hgetall(self._rkey(key))
        if not fields:
            raise KeyError(key)
        return fields

    def load(self, key: str) -> Any:
        """Fetch all chunks in one HGETALL and decode (CorruptResult if damaged)."""
        fields = self._fetch(key)
        where = self.result_path(key)
        header = fields.pop(_HEADER_FIELD, b"")
        try:
            order = sorted(fields, key=int)
        except ValueError:
            raise CorruptResult(key, where, "unexpected fields in result hash") from None
        if [int(f) for f in order] != list(range(len(order))):
            raise CorruptResult(key, where, f"missing chunks: have {[int(f) for f in order]}")
        parts = [header] + [fields.pop(f) for f in order]
        data = parts[0] + parts[1] if len(parts) == 2 else b"".join(parts)
        del parts, fields
        return decode_result(data, key, where)

    def verify(self, key: str, full: bool = False) -> None:
        """Check header and total length server-side (no payload transfer); CorruptResult if bad.

        ``full`` fetches the result and checks its checksum too."""
        if full:
            self.load(key)
            return
        with self._errors():
            res = self._verify_script(keys=[self._rkey(key)])
        self._check_verify_reply(key, res)

    def verify_many(self, keys: Iterable[str], full: bool = False,
                    batch: int = 2000) -> dict[str, Exception]:
        """Verify many results in pipelined batches; returns ``{key: CorruptResult|KeyError}``
        for the bad ones only (execute's start-up check without one round trip per task)."""
        if full:
            return super().verify_many(keys, full=True)
        bad: dict[str, Exception] = {}
        keys = list(keys)
        for start in range(0, len(keys), batch):
            part = keys[start:start + batch]
            with self._errors():
                pipe = self._r.pipeline(transaction=False)
                for k in part:
                    self._verify_script(keys=[self._rkey(k)], client=pipe)
                replies = pipe.execute()
            for k, res in zip(part, replies):
                try:
                    self._check_verify_reply(k, res)
                except (CorruptResult, KeyError) as e:
                    bad[k] = e
        return bad

    def _check_verify_reply(self, key: str, res: Any) -> None:
        """Raise KeyError/CorruptResult unless the verify script's reply describes a whole result."""
        if not res:
            raise KeyError(key)
        header, total, _nchunks = res
        where = self.result_path(key)
        _fmt, length, _crc = check_header(header, key, where)
        if int(total) != length:
            raise CorruptResult(key, where, f"payload is {int(total)} bytes, header says {length}")

    def result_path(self, key: str) -> str:
        """Where the result of ``key`` lives, for messages."""
        return f"{self.description} key {self._rkey(key)}"

    def exists(self, key: str) -> bool:
        with self._errors():
            return bool(self._r.exists(self._rkey(key)))

    def list(self) -> Iterable[str]:
        """Every finished hash: one SMEMBERS of the done set."""
        with self._errors():
            return [k.decode() for k in self._r.smembers(self._k_done)]

    def read_state(self) -> tuple[list[str], dict[str, dict], dict[str, dict]]:
        """Finished keys, locks and failure marks in one round trip (MULTI/EXEC: consistent)."""
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.smembers(self._k_done)
            pipe.hgetall(self._k_locks)
            pipe.hgetall(self._k_failed)
            done, locks, failed = pipe.execute()
        return ([k.decode() for k in done], {k.decode(): _loads(v) for k, v in locks.items()},
                {k.decode(): _loads(v) for k, v in failed.items()})

    def remove(self, key: str) -> bool:
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self._rkey(key))
            pipe.srem(self._k_done, key)
            deleted, _ = pipe.execute()
        return bool(deleted)

    # -- locks -----------------------------------------------------------------------
    def lock(self, key: str, owner: dict | None = None) -> bool:
        """HSETNX the owner record; a retried command that already succeeded counts as ours."""
        record = dict(owner) if owner is not None else _owner.current_owner()
        record["token"] = uuid.uuid4().hex  # tells our own write apart after a lost reply
        body = json.dumps(record, default=str)
        with self._errors():
            if self._r.hsetnx(self._k_locks, key, body):
                return True
            current = self._r.hget(self._k_locks, key)
        return current is not None and current.decode() == body

    def claim(self, key: str, owner: dict | None = None) -> Claim:
        """Lock ``key`` and say whether it has a result or failure mark, in one round trip.

        Returns ``(locked, has_result, failed)``; the lock is held whenever ``locked`` is True
        (release it as usual).  Saves execute two round trips per task over
        ``lock`` + ``exists`` + ``is_failed``; in :attr:`batching` mode the same round trip also
        publishes the previous task's result and releases its lock.
        """
        body = _lock_record(owner)
        pending = self._take_pending()
        with self._unsaved(pending), self._errors():
            if pending is None:
                got, has_result, failed = self._hot(
                    self._claim_script, [self._k_locks, self._rkey(key), self._k_failed],
                    [key, body])
            else:  # publish the previous task's result, release it and claim: one round trip
                done, header, payload = pending
                _released, got, has_result, failed = self._hot(
                    self._finish_claim_script,
                    [self._rkey(done), self._k_done, self._k_locks, self._rkey(key),
                     self._k_failed], [done, header, payload, *self._me(), key, body])
            if not got:  # a retried call whose first attempt already took the lock?
                got = self._r.hget(self._k_locks, key) == body
        self._claimed = key if got else None
        return Claim(bool(got), bool(has_result), bool(failed))

    def unlock(self, key: str) -> bool:
        """Release the lock of ``key`` if this host+pid owns it; True if released."""
        pending = self._pending
        if pending is not None and pending[0] == key:
            return True  # the deferred result's round trip releases it
        if key == self._claimed:
            self._claimed = None
        with self._errors():
            res = self._unlock_script(keys=[self._k_locks], args=[key, *self._me()])
        if res == 0:
            log.warning("not releasing lock %s in %s: held by %s, not by this process",
                        key, self.description, _owner.owner_summary(self.lock_owner(key)))
        return res == 1

    def force_unlock(self, key: str) -> bool:
        """Remove the lock of ``key`` whoever holds it; True if there was one."""
        with self._errors():
            return bool(self._r.hdel(self._k_locks, key))

    def reclaim(self, key: str, owner: dict) -> bool:
        """Remove the lock of ``key`` only if its record is still ``owner`` (atomic)."""
        with self._errors():
            body = self._r.hget(self._k_locks, key)
            if body is None or _loads(body) != owner:
                return False
            return bool(self._cad_script(keys=[self._k_locks], args=[key, body]))

    def is_locked(self, key: str) -> bool:
        with self._errors():
            return bool(self._r.hexists(self._k_locks, key))

    def lock_owner(self, key: str) -> dict | None:
        with self._errors():
            body = self._r.hget(self._k_locks, key)
        return None if body is None else _loads(body)

    def list_locks(self) -> dict[str, dict]:
        """Every lock with its owner: one HGETALL."""
        with self._errors():
            raw = self._r.hgetall(self._k_locks)
        return {k.decode(): _loads(v) for k, v in raw.items()}

    def heartbeat(self, key: str) -> None:
        """Set the heartbeat time of the lock of ``key`` if this host+pid owns it.

        Runs in the heartbeat thread: it leaves a result kept back by batching to the main
        thread, whose next request sends it and reports its loss if that fails."""
        me = _owner.current_owner()
        for _ in range(5):  # compare-and-swap; retry if the record changed in between
            with self._errors(flush=False):
                body = self._r.hget(self._k_locks, key)
                if body is None:
                    return
                record = _loads(body)
                if record.get("host") != me["host"] or record.get("pid") != me["pid"]:
                    return
                record["heartbeat"] = time.time()
                new = json.dumps(record, default=str)
                if self._cas_script(keys=[self._k_locks], args=[key, body, new]):
                    return

    def remove_all_locks(self) -> int:
        """Remove every lock in one transaction; returns how many there were."""
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.hlen(self._k_locks)
            pipe.delete(self._k_locks)
            n, _ = pipe.execute()
        return int(n)

    # -- failures --------------------------------------------------------------------
    def fail(self, key: str, info: dict) -> None:
        with self._errors():
            self._r.hset(self._k_failed, key, json.dumps(info, default=str))

    def is_failed(self, key: str) -> bool:
        with self._errors():
            return bool(self._r.hexists(self._k_failed, key))

    def list_failed(self) -> dict[str, dict]:
        """Every failure mark: one HGETALL."""
        with self._errors():
            raw = self._r.hgetall(self._k_failed)
        return {k.decode(): _loads(v) for k, v in raw.items()}

    def clear_failed(self, key: str) -> bool:
        with self._errors():
            return bool(self._r.hdel(self._k_failed, key))

    # -- documents -------------------------------------------------------------------
    def _dkey(self, namespace: str) -> str:
        """The Redis key of the document hash of ``namespace``."""
        return f"{self.prefix}d:{namespace}"

    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        with self._errors():
            self._r.hset(self._dkey(namespace), name, json.dumps(doc, default=str))

    def read_docs(self, namespace: str) -> dict[str, dict]:
        """Every document of ``namespace``: one HGETALL."""
        with self._errors():
            raw = self._r.hgetall(self._dkey(namespace))
        return {k.decode(): _loads(v) for k, v in raw.items()}

    def read_doc(self, namespace: str, name: str) -> dict | None:
        """One document: one HGET."""
        with self._errors():
            raw = self._r.hget(self._dkey(namespace), name)
        return None if raw is None else _loads(raw)

    def remove_doc(self, namespace: str, name: str) -> bool:
        with self._errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.hdel(self._dkey(namespace), name)
            pipe.hdel(self._dkey(namespace) + ":writers", name)
            removed, _ = pipe.execute()
        return bool(removed)

    def cas_doc(self, namespace: str, name: str, doc: dict, version: int) -> bool:
        """One Lua call compares the stored version and writes, recording a random token of
        this write beside it: a call redis-py retried after a lost reply finds the version
        it wrote with its own token and still counts as won (equal bodies from two writers
        would not tell them apart)."""
        body = json.dumps({**doc, "version": version + 1}, default=str)
        key = self._dkey(namespace)
        with self._errors():
            return bool(self._cas_doc_script(keys=[key, key + ":writers"],
                                             args=[name, version, body, uuid.uuid4().hex]))


    # -- housekeeping ----------------------------------------------------------------
    def remove_stale_temporaries(self, older_than: float = 3600.0) -> int:
        """Delete half-written large results (they also expire on their own); returns how many."""
        n = 0
        with self._errors():
            for k in self._r.scan_iter(match=f"{self.prefix}tmp:*", count=1000):
                ttl = self._r.ttl(k)
                if ttl < 0 or TMP_TTL - ttl >= older_than:
                    n += self._r.delete(k)
        return n

    def clear(self) -> int:
        """Delete every key of this store's prefix (SCAN in batches); returns how many."""
        n = 0
        with self._errors():
            batch: list[bytes] = []
            for k in self._r.scan_iter(match=f"{_glob_escape(self.prefix)}*", count=1000):
                batch.append(k)
                if len(batch) >= 1000:
                    n += self._r.delete(*batch)
                    batch = []
            if batch:
                n += self._r.delete(*batch)
        return n

    def close(self) -> None:
        """Publish a deferred result, then close the connections of this store."""
        try:
            self.flush()
        finally:
            self._r.close()
            with self._lane_lock:
                if self._lane is not None:
                    self._lane.disconnect()
                    self._lane = None
        self._r.connection_pool.disconnect()

    def __reduce__(self) -> tuple:
        """Pickle as the URL: the unpickled copy opens its own connections."""
        return (type(self), (self._url, self.chunk_size))


def _lock_record(owner: dict | None) -> bytes:
    """The JSON lock record of ``owner`` (default: this process, serialised fast) with a random
    token, which tells our own write apart after a reply was lost."""
    token = os.urandom(12).hex()
    if owner is None:
        return b'%s, "token": "%s"}' % (_owner.lock_body()[:-1], token.encode())
    return json.dumps({**owner, "token": token}, default=str).encode()


def _reason(e: Exception) -> str:
    """The OS-level reason of a redis-py connection error (e.g. ``Connection refused``)."""
    text = str(e)
    for known in ("Connection refused", "Connection reset by peer", "Name or service not known",
                  "Temporary failure in name resolution", "No route to host", "Broken pipe",
                  "Connection closed by server", "timed out"):
        if known.lower() in text.lower():
            return known
    return text or type(e).__name__


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so SCAN MATCH treats ``text`` literally."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _loads(body: bytes | str) -> dict:
    """Decode a stored JSON record; an unreadable one becomes ``{"unreadable": ...}``."""
    try:
        value = json.loads(body)
    except ValueError:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return {"unreadable": raw[:200]}
    return value if isinstance(value, dict) else {"value": value}

