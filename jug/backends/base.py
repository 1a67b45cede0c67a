"""The store interface every backend implements, and the result encoding they share.

Everything above this module (tasks, execute, status, the HPC toolkit) talks only to
:class:`Store`; a backend is one file in this package.  The contract:

* results: ``save``/``load``/``exists``/``remove`` by task hash, and ``list`` (one bulk
  listing of every finished hash: status never does one round trip per task);
* locks: ``lock`` is atomic and records the owner (:func:`jug.backends.owner.current_owner`);
  ``list_locks`` returns every lock with its owner in one call; ``unlock`` releases only this
  process's lock, ``force_unlock`` anyone's, ``reclaim`` only a lock still holding the owner
  record judged dead; ``claim`` locks and reports a named :class:`Claim`;
* failures: ``fail`` marks a task as failed (it stays failed until cleaned up);
* documents: small JSON dictionaries in named namespaces (run times, submit state...);
  ``cas_doc`` writes one only over the version its writer read (records that two processes
  may write at once, such as the ``--until-done`` chain record);
* housekeeping: ``remove_stale_temporaries``, ``remove_all_locks``, ``flush``, ``close``.

Every method is declared here with its types, so callers never probe a store for a
capability; ``tests/test_store_contract.py`` runs the contract on every store.

Results are framed by :func:`encode_result` (magic, format, length, CRC-32) so that a
truncated or corrupt result is *detected* (:class:`CorruptResult`) and never loaded silently.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import sys
import zlib
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, NamedTuple

MAGIC = b"JUGR"
VERSION = 1
_HEADER = struct.Struct(">4sBcQI")  # magic, version, format, payload length, crc32
HEADER_SIZE = _HEADER.size

FORMAT_PICKLE = b"p"  # plain pickle (small values, not worth compressing)
FORMAT_ZPICKLE = b"z"  # zlib-compressed pickle
FORMAT_NUMPY = b"n"  # numpy's own .npy format

_COMPRESS_THRESHOLD = 512


class StoreError(Exception):
    """A store cannot be opened or used (bad jugdir, unreachable server, permissions)."""


class UnsavedResult(StoreError):
    """A result a batching store kept back could not be sent: that task is not finished."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"result {key} was not saved: {reason}")


class CorruptResult(StoreError):
    """A stored result failed its length or checksum check: it is treated as not computed."""

    def __init__(self, key: str, where: str, reason: str) -> None:
        self.key = key
        self.where = where
        self.reason = reason
        super().__init__(f"corrupt result {key} at {where}: {reason}")


def _is_numpy_array(value: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and type(value) is np.ndarray and value.dtype.hasobject is False


class EncodedResult(NamedTuple):
    """A framed result as buffers to write one after the other (never concatenated here).

    ``header`` is the jug frame header; ``parts`` the payload pieces (for a numpy array:
    the .npy header and a view of the array's own memory), so a store can write them with
    one ``writev`` and no copy of the array.  (A named tuple: made once per task, and a
    frozen dataclass costs several times more to make.)
    """

    header: bytes
    parts: tuple

    @property
    def size(self) -> int:
        """Total bytes (header and payload)."""
        return len(self.header) + sum(memoryview(p).nbytes for p in self.parts)

    def buffers(self) -> list:
        """Header and payload pieces, in order."""
        return [self.header, *self.parts]

    def to_bytes(self) -> bytes:
        """One bytes object (one copy of the payload), for stores that need a single value."""
        return b"".join(self.buffers())


def _frame(fmt: bytes, parts: tuple) -> EncodedResult:
    if len(parts) == 1 and type(parts[0]) is bytes:  # a pickle: the usual case
        p = parts[0]
        return EncodedResult(_HEADER.pack(MAGIC, VERSION, fmt, len(p), zlib.crc32(p)), parts)
    crc = 0
    length = 0
    for p in parts:
        crc = zlib.crc32(p, crc)
        length += memoryview(p).nbytes
    return EncodedResult(_HEADER.pack(MAGIC, VERSION, fmt, length, crc), parts)


def _npy_parts(value: Any) -> tuple:
    """(.npy header, view of the data) for an array, laid out as ``np.save`` writes it."""
    import numpy as np  # start-up time: numpy loads only for arrays

    arr = value if value.flags.c_contiguous or value.flags.f_contiguous \
        else np.ascontiguousarray(value)
    head = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(arr))
    except ValueError:  # header too large for format 1.0: let np.save choose the version
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return (buf.getbuffer(),)
    flat = arr if arr.flags.c_contiguous else arr.T  # Fortran order: its transpose is C order
    data = flat.reshape(-1).view(np.uint8).data if arr.nbytes else b""
    return head.getvalue(), data


def encode_result_parts(value: Any) -> EncodedResult:
    """Frame ``value``: numpy arrays in .npy format (zero-copy), others pickled (compressed if large)."""
    if _is_numpy_array(value):
        return _frame(FORMAT_NUMPY, _npy_parts(value))
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    fmt = FORMAT_PICKLE
    if len(payload) > _COMPRESS_THRESHOLD:
        payload = zlib.compress(payload, 1)
        fmt = FORMAT_ZPICKLE
    return _frame(fmt, (payload,))


def encode_result(value: Any) -> bytes:
    """:func:`encode_result_parts` as one bytes object."""
    parts = encode_result_parts(value)
    if len(parts.parts) == 1 and type(parts.parts[0]) is bytes:
        return parts.header + parts.parts[0]
    return parts.to_bytes()


def check_header(data: bytes | memoryview, key: str, where: str) -> tuple[bytes, int, int]:
    """Parse and validate a result header; returns (format, payload length, crc)."""
    if len(data) < HEADER_SIZE:
        raise CorruptResult(key, where, f"truncated: {len(data)} bytes, header needs {HEADER_SIZE}")
    magic, version, fmt, length, crc = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptResult(key, where, "not a jug result (bad magic bytes)")
    if version != VERSION:
        raise CorruptResult(key, where, f"unknown result format version {version}")
    return fmt, length, crc


def decode_result(data: bytes | memoryview, key: str = "?", where: str = "?") -> Any:
    """Inverse of :func:`encode_result`; raises :class:`CorruptResult` on any mismatch."""
    fmt, length, crc = check_header(data, key, where)
    return decode_payload(fmt, length, crc, memoryview(data)[HEADER_SIZE:], key, where)


def decode_payload(fmt: bytes, length: int, crc: int, payload: bytes | memoryview,
                   key: str = "?", where: str = "?") -> Any:
    """Check length and checksum of a payload whose header said (fmt, length, crc), decode it."""
    if len(payload) != length:
        raise CorruptResult(key, where, f"truncated: payload is {len(payload)} bytes, expected {length}")
    if zlib.crc32(payload) != crc:
        raise CorruptResult(key, where, "checksum mismatch")
    try:
        if fmt == FORMAT_PICKLE:
            return pickle.loads(payload)
        if fmt == FORMAT_ZPICKLE:
            return pickle.loads(zlib.decompress(payload))
        if fmt == FORMAT_NUMPY:
            import numpy as np  # start-up time: numpy loads only for arrays

            return np.load(io.BytesIO(payload), allow_pickle=False)
    except CorruptResult:
        raise
    except Exception as e:  # checksum was fine but the payload does not decode
        raise CorruptResult(key, where, f"cannot decode payload: {e!r}")
    raise CorruptResult(key, where, f"unknown payload format {fmt!r}")


#: numpy results at least this large are read straight into a preallocated array
LARGE_ARRAY = 1 << 20


def read_result(f: Any, key: str, where: str) -> Any:
    """Read one framed result from binary file ``f`` (unbuffered is best) and decode it.

    A large numpy array is read with one ``readinto`` into its final memory and checksummed
    there: no intermediate copies, so loading needs the array's size and not several times it.
    """
    head = _read_exact(f, HEADER_SIZE)
    fmt, length, crc = check_header(head, key, where)
    if fmt == FORMAT_NUMPY and length >= LARGE_ARRAY:
        arr = _read_npy(f, length, crc, key, where)
        if arr is not None:
            return arr
        f.seek(HEADER_SIZE)  # a layout the direct path does not handle: read it whole
    return decode_payload(fmt, length, crc, f.read(), key, where)


def _read_exact(f: Any, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the file)."""
    chunks = []
    while n > 0:
        b = f.read(n)
        if not b:
            break
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _read_npy(f: Any, length: int, crc: int, key: str, where: str) -> Any:
    """The array of a .npy payload of ``length`` bytes, or None for .npy versions other than 1/2."""
    import numpy as np  # start-up time: numpy loads only for arrays

    fixed = _read_exact(f, 10)
    if len(fixed) < 10 or fixed[:6] != b"\x93NUMPY":
        raise CorruptResult(key, where, "cannot decode payload: bad .npy header")
    if fixed[6] not in (1, 2):
        return None
    pre = fixed if fixed[6] == 1 else fixed + _read_exact(f, 2)
    size = int.from_bytes(pre[8:], "little")
    if len(pre) + size > length:
        raise CorruptResult(key, where, "cannot decode payload: .npy header longer than the payload")
    npy_head = pre + _read_exact(f, size)
    arr = _empty_from_npy_header(np, npy_head, length - len(npy_head), key, where)
    view = (arr.T if np.isfortran(arr) else arr).reshape(-1).view(np.uint8).data
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise CorruptResult(key, where, f"truncated: payload is {len(npy_head) + got} bytes, "
                                f"expected {length}")
        got += n
    if f.read(1):
        raise CorruptResult(key, where, "trailing bytes after the payload")
    if zlib.crc32(view, zlib.crc32(npy_head)) != crc:
        raise CorruptResult(key, where, "checksum mismatch")
    return arr


def _empty_from_npy_header(np: Any, npy_head: bytes, nbytes: int, key: str, where: str) -> Any:
    """A new uninitialised array with the shape, dtype and order a .npy header describes
    (checked against the ``nbytes`` of data that follow before anything is allocated)."""
    fmt = np.lib.format
    hf = io.BytesIO(npy_head)
    try:
        major, _minor = fmt.read_magic(hf)
        reader = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        try:
            shape, fortran, dtype = reader(hf, max_header_size=len(npy_head) + 1)
        except TypeError:  # numpy < 1.24 has no max_header_size
            shape, fortran, dtype = reader(hf)
        if dtype.hasobject:
            raise ValueError("object arrays are never stored as .npy")
        size = dtype.itemsize * math.prod(shape)
    except (ValueError, SyntaxError, TypeError) as e:
        raise CorruptResult(key, where, f"cannot decode payload: {e!r}") from None
    if size != nbytes:
        raise CorruptResult(key, where, f"array of {size} bytes in {nbytes} bytes of data")
    return np.empty(shape, dtype, order="F" if fortran else "C")


class Claim(NamedTuple):
    """What :meth:`Store.claim` found, named so a worker reads fields, not tuple positions."""

    locked: bool  # the lock is now held by this process
    done: bool  # a result is stored already (nothing to run)
    failed: bool  # the task is marked failed (it stays failed until cleaned up)


def doc_version(doc: dict | None) -> int:
    """The version :meth:`Store.cas_doc` recorded in ``doc`` (0: none, or no document)."""
    try:
        return int((doc or {}).get("version") or 0)
    except (TypeError, ValueError):
        return 0


class Store(ABC):
    """A place where results, locks, failure marks and small documents live."""

    #: a short human description (path or URL) used in messages
    description: str = "?"
    #: set by ``jug execute``: a backend with round trips may keep a claimed task's result back
    #: and send it with the next request (claim of the next task), until :meth:`flush`
    batching: bool = False

    # -- results -------------------------------------------------------------------
    @abstractmethod
    def save(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` atomically (readers see all of it or nothing)."""

    @abstractmethod
    def load(self, key: str) -> Any:
        """Return the value under ``key``; KeyError if absent, CorruptResult if damaged."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True if a result is stored under ``key`` (cheap; does not verify the checksum)."""

    def can_load(self, key: str) -> bool:
        """Alias of :meth:`exists` (the name Jug's API uses)."""
        return self.exists(key)

    @abstractmethod
    def list(self) -> Iterable[str]:
        """Every key with a stored result, in one bulk operation."""

    @abstractmethod
    def remove(self, key: str) -> bool:
        """Remove the result under ``key``; True if there was one."""

    # -- locks -----------------------------------------------------------------------
    @abstractmethod
    def lock(self, key: str, owner: dict | None = None) -> bool:
        """Atomically take the lock of ``key`` for ``owner`` (default: this process)."""

    @abstractmethod
    def unlock(self, key: str) -> bool:
        """Release the lock of ``key`` if this process holds it; True if it was released.

        A lock held by another process (reclaimed from us and re-taken) is left alone, and a
        lock not held at all is no error: a late release never frees somebody else's task.
        """

    @abstractmethod
    def is_locked(self, key: str) -> bool:
        """True if somebody holds the lock of ``key`` (advisory: only lock() is atomic)."""

    @abstractmethod
    def list_locks(self) -> dict[str, dict]:
        """Every held lock as ``{key: owner}`` in one bulk operation."""

    @abstractmethod
    def force_unlock(self, key: str) -> bool:
        """Remove the lock of ``key`` whoever holds it; True if there was one (cleanup of dead
        workers' locks)."""

    def reclaim(self, key: str, owner: dict) -> bool:
        """Remove the lock of ``key`` only if it still holds the record ``owner`` (judged dead).

        Two workers reclaiming the same dead lock, or a new owner taking it in between, never
        lose a live lock.  Backends override this with an atomic compare-and-delete.
        """
        if self.lock_owner(key) != owner:
            return False
        self.force_unlock(key)
        return True

    def verify(self, key: str, full: bool = False) -> None:
        """Integrity check of a stored result; raises CorruptResult or KeyError.

        Cheap by default (backends check what costs no extra transfer); ``full`` checks the
        checksum whatever the size (``jug check --verify``).
        """
        if full:
            self.load(key)
        elif not self.exists(key):
            raise KeyError(key)

    def verify_many(self, keys: Iterable[str], full: bool = False) -> dict[str, Exception]:
        """:meth:`verify` for many keys; ``{key: error}`` for the bad ones only.

        Backends with round trips override this to check many keys per round trip.
        """
        bad: dict[str, Exception] = {}
        for k in keys:
            try:
                self.verify(k, full)
            except (CorruptResult, KeyError) as e:
                bad[k] = e
        return bad

    def claim(self, key: str, owner: dict | None = None) -> Claim:
        """Lock ``key`` and report what is known about it (the lock is held if ``locked``).

        What a worker does before running a task; backends override it to do it in one round trip.
        """
        if not self.lock(key, owner):
            return Claim(False, False, False)
        return Claim(True, self.exists(key), self.is_failed(key))

    def result_path(self, key: str) -> str:
        """Where the result of ``key`` lives, for messages."""
        return f"{self.description} [{key}]"

    def read_state(self) -> tuple[list[str], dict[str, dict], dict[str, dict]]:
        """(finished keys, locks, failure marks): what status reads, in as few round trips as
        the backend allows (Redis: one)."""
        return list(self.list()), self.list_locks(), self.list_failed()

    @abstractmethod
    def lock_owner(self, key: str) -> dict | None:
        """The owner recorded in the lock of ``key``, or None if unlocked."""

    @abstractmethod
    def heartbeat(self, key: str) -> None:
        """Refresh the heartbeat time of a lock this process holds."""

    # -- failures --------------------------------------------------------------------
    @abstractmethod
    def fail(self, key: str, info: dict) -> None:
        """Mark ``key`` as failed with ``info`` (task name, error, traceback, owner)."""

    @abstractmethod
    def is_failed(self, key: str) -> bool:
        """True if ``key`` is marked failed."""

    @abstractmethod
    def list_failed(self) -> dict[str, dict]:
        """Every failure mark as ``{key: info}`` in one bulk operation."""

    @abstractmethod
    def clear_failed(self, key: str) -> bool:
        """Remove the failure mark of ``key``; True if there was one."""

    # -- documents -------------------------------------------------------------------
    @abstractmethod
    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        """Atomically write a small JSON-able dict ``doc`` as ``namespace/name``."""

    @abstractmethod
    def read_docs(self, namespace: str) -> dict[str, dict]:
        """Every document of ``namespace`` as ``{name: doc}`` in one bulk operation."""

    def read_doc(self, namespace: str, name: str) -> dict | None:
        """Document ``namespace/name``, or None: one read where :meth:`read_docs` would read
        them all (a record rewritten under a task's lock, e.g. its retry attempts)."""
        return self.read_docs(namespace).get(name)

    @abstractmethod
    def remove_doc(self, namespace: str, name: str) -> bool:
        """Remove document ``namespace/name``; True if it existed."""

    @abstractmethod
    def cas_doc(self, namespace: str, name: str, doc: dict, version: int) -> bool:
        """Compare-and-set: store ``doc`` as ``namespace/name`` with ``"version": version + 1``
        only if the stored document's version (:func:`doc_version`) is still ``version``
        (0: no document, or one written by :meth:`write_doc`); False, writing nothing, if
        another writer came first.

        Atomic across processes and hosts, so a writer holding an older copy (a planner
        whose poll took minutes) can never undo a newer write (a cancel): it reads again and
        decides again.  :meth:`read_docs` returns the document with its ``version``.
        """

    def update_doc(self, namespace: str, name: str, change: Callable[[dict | None], dict],
                   attempts: int = 20) -> bool:
        """Replace document ``namespace/name`` by ``change(current)`` (current: None when
        absent, else without its ``version``) by :meth:`cas_doc`: a document several
        processes rewrite (the compacted run times, the summary of past workers) loses no
        update.  ``change`` is called again after a conflict; False if the document stayed
        contended for ``attempts`` tries and was left as it was."""
        for _ in range(attempts):
            current = self.read_docs(namespace).get(name)
            version = doc_version(current)
            body = None if current is None else {k: v for k, v in current.items()
                                                 if k != "version"}
            if self.cas_doc(namespace, name, change(body), version):
                return True
        return False

    # -- housekeeping ----------------------------------------------------------------
    def remove_all_locks(self) -> int:
        """Remove every lock (only safe when no worker runs); returns how many."""
        locks = self.list_locks()
        for key in locks:
            self.force_unlock(key)
        return len(locks)

    def remove_stale_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove what killed writers left half-written (older than ``older_than`` s); how many.

        Part of ``jug cleanup``; a store that never writes in pieces has nothing to remove.
        """
        return 0

    def prefetch(self) -> None:
        """Start reading the listing of the results in the background, for the next
        :meth:`list` or :meth:`read_state` (no-op by default; the file store lists a large
        store in a child process while the jugfile loads)."""
        return None

    def flush(self) -> None:
        """Send whatever :attr:`batching` kept back (no-op by default)."""
        return None

    def close(self) -> None:
        """Release connections or file handles (no-op by default)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"
