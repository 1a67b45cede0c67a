"""The file store: a directory, safe for many processes on many machines (NFS included).

Layout under the jugdir::

    results/ab/cdef...      one framed result per task hash (fan-out on 2 hex chars)
    locks/<hash>            exclusive-create lock files holding the owner as JSON
    failed/<hash>           failure marks (JSON)
    docs/<namespace>/<name>.json
    docs/<namespace>/<name>.json.v<version, 12 digits>   (documents written by cas_doc)

Durability policy: a result is written to a temporary file in its final folder and renamed
into place, so readers and a killed writer never see half a file; no fsync per task (it costs
10x the rest of the task overhead).  If the machine itself crashes, a result that did not
reach the disk is at worst truncated or zeroed, which the length + CRC-32 framing detects:
it is reported and recomputed, never loaded.  Set ``JUG_FSYNC=1`` to fsync every result.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import sys
import threading
import time
import zlib
from functools import partial
from typing import Any, Callable, Iterable, TypeVar

from ..config.trust import untrusted_reason
from . import owner as _owner
from .base import (
    HEADER_SIZE,
    Claim,
    CorruptResult,
    Store,
    StoreError,
    check_header,
    doc_version,
    encode_result_parts,
    read_result,
)
from .prefetch import Prefetch

_TMP_PREFIX = ".tmp."
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_NOT_CLAIMED = Claim(False, False, False)
#: a lock released this soon (seconds) after this process took it is removed without reading
#: it back: only a worker judging this one dead may take it over, and that needs --stale-after
#: seconds without heartbeat (300 by default) on another host, or this process gone
TRUST_OWN_LOCK = 1.0
#: a version of a document written by cas_doc
_CAS_FILE = re.compile(r"^(?P<name>.+)\.json\.v(?P<version>\d{12})$")
#: versions of a cas_doc document kept behind the newest: a writer that read a version, then
#: stalled while this many others were written, is told it lost (see FileStore.cas_doc)
_CAS_KEEP = 50
#: results up to this size (one page) get their checksum verified by the cheap check too
CHEAP_CHECKSUM_SIZE = 4096
#: folders are made group-shareable at most: a store every user could write to is refused
_DIR_MODE = 0o775
_FILE_MODE = 0o664
_F = TypeVar("_F", bound=Callable[..., Any])

_WHY = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted"}
_HINT = {errno.ENOSPC: "free some space; unfinished tasks run again",
         errno.EDQUOT: "free some space; unfinished tasks run again",
         errno.EROFS: "use a writable jugdir (--jugdir)",
         errno.EACCES: "use a jugdir you can write to (--jugdir)",
         errno.EPERM: "use a jugdir you can write to (--jugdir)"}


def store_os_error(e: OSError, action: str, jugdir: str) -> StoreError:
    """One clear line for an OS error of the store (disk full, read-only, permissions)."""
    why = _WHY.get(e.errno or 0, e.strerror or str(e))
    where = e.filename or jugdir
    hint = _HINT.get(e.errno or 0, f"check the jugdir {jugdir}")
    err = StoreError(f"cannot {action} {where}: {why} ({hint})")
    err.errno = e.errno  # type: ignore[attr-defined]
    return err


def _os_errors(action: str) -> Callable[[_F], _F]:
    """Turn any OSError escaping a store method into a StoreError saying what failed."""
    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def inner(self: FileStore, *args: Any, **kw: Any) -> Any:
            try:
                return method(self, *args, **kw)
            except OSError as e:
                raise store_os_error(e, action, self.path) from None
        return inner  # type: ignore[return-value]
    return wrap


class FileStore(Store):
    """Results, locks and documents as files under one directory."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.description = self.path
        self._results = os.path.join(self.path, "results")
        self._locks = os.path.join(self.path, "locks")
        self._failed = os.path.join(self.path, "failed")
        self._docs = os.path.join(self.path, "docs")
        self._made: set[str] = set()  # folders made or found, and checked (_ensure_dir)
        #: locks this process took for itself: key -> when (monotonic), for :meth:`unlock`
        self._taken: dict[str, float] = {}
        self._generation = _owner.fork_generation[0]
        self._prefetch: Prefetch | None = None  # a listing under way (prefetch)
        self._fsync = os.environ.get("JUG_FSYNC", "") not in ("", "0")
        self._tmp_tag = f"{_TMP_PREFIX}{_owner.HOST}.{os.getpid()}."
        self._counter = 0
        self._heartbeat_mutex = threading.Lock()  # heartbeat vs unlock in this process
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise StoreError(f"jugdir {self.path} exists and is not a directory")
        _check_trusted(self.path)

    # -- helpers ---------------------------------------------------------------------
    def _ensure_dir(self, d: str) -> None:
        """Create ``d`` and the folders between it and the jugdir, each checked once it exists.

        Another user may have planted the jugdir (or a folder in it) between the check when the
        store opened and ``makedirs(exist_ok=True)``; so each level, created or found, is
        checked before anything is created in it (:func:`_check_trusted`), once per process.
        """
        if d in self._made:
            return
        parent = os.path.dirname(d)
        if d != self.path and parent.startswith(self.path):
            self._ensure_dir(parent)
        try:
            os.makedirs(d, mode=_DIR_MODE, exist_ok=True)
        except OSError as e:
            raise store_os_error(e, "create the folder", self.path) from None
        _check_trusted(d, "the jugdir" if d == self.path else "a folder of the jugdir")
        self._made.add(d)

    def _make_dir(self, d: str) -> None:
        """Make folder ``d`` again: a write found it missing (removed under us by cleanup)."""
        self._made.discard(d)
        self._ensure_dir(d)

    def _result_path(self, key: str) -> tuple[str, str]:
        d = f"{self._results}/{key[:2]}"
        return d, f"{d}/{key[2:]}"

    def _atomic_write(self, folder: str, path: str, data: bytes | list, fsync: bool = False) -> None:
        """Write ``data`` (bytes, or buffers written in order) to ``path`` via a temporary file
        in the same folder and a rename.

        Each folder is made (or found) and checked once per process (:meth:`_ensure_dir`),
        and made again only when creating the temporary file says it is gone: no existence
        test per write (on NFS each is a round trip)."""
        if folder not in self._made:
            self._ensure_dir(folder)
        self._counter += 1
        tmp = f"{folder}/{self._tmp_tag}{self._counter}"
        try:
            fd = os.open(tmp, _CREATE, _FILE_MODE)
        except FileNotFoundError:  # a new folder (or one removed under us by cleanup)
            self._make_dir(folder)
            fd = os.open(tmp, _CREATE, _FILE_MODE)
        except FileExistsError:  # a forked child with its parent's names: name them anew
            self._tmp_tag = f"{_TMP_PREFIX}{_owner.HOST}.{os.getpid()}."
            tmp = f"{folder}/{self._tmp_tag}{self._counter}"
            fd = os.open(tmp, _CREATE, _FILE_MODE)
        try:
            if type(data) is bytes:  # one small piece: one write, the usual case
                n = os.write(fd, data)
                if n < len(data):
                    _write_all(fd, [memoryview(data)[n:]])
            else:
                _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    # -- results ---------------------------------------------------------------------
    def save(self, key: str, value: Any) -> None:
        """Frame ``value`` and write header and payload pieces with writev (arrays uncopied).

        (claim, save and unlock run once per task: they translate OS errors themselves, not
        through :func:`_os_errors`, whose wrapper cost a tenth of a tiny task.)"""
        header, parts = encode_result_parts(value)
        folder = f"{self._results}/{key[:2]}"
        if len(parts) == 1 and type(parts[0]) is bytes and len(parts[0]) <= _SMALL_WRITE:
            data: bytes | list = header + parts[0]  # one small copy, one write
        else:
            data = [header, *parts]
        try:
            self._atomic_write(folder, f"{folder}/{key[2:]}", data, self._fsync)
        except OSError as e:
            raise store_os_error(e, "save a result in", self.path) from None

    @_os_errors("read a result from")
    def load(self, key: str) -> Any:
        _, path = self._result_path(key)
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise KeyError(key) from None
        with f:
            return read_result(f, key, path)

    def result_path(self, key: str) -> str:
        """Where the result of ``key`` lives (for messages)."""
        return self._result_path(key)[1]

    @_os_errors("read a result from")
    def exists(self, key: str) -> bool:
        return _exists(self._result_path(key)[1])

    @_os_errors("read a result from")
    def verify(self, key: str, full: bool = False) -> None:
        """Integrity check: header and length always; the CRC-32 too for results of at most
        :data:`CHEAP_CHECKSUM_SIZE` bytes (the same one read), or all with ``full``."""
        path = self._result_path(key)[1]
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyError(key) from None
        try:
            data = os.read(fd, CHEAP_CHECKSUM_SIZE + 1)
            if full or len(data) > CHEAP_CHECKSUM_SIZE:
                size = os.fstat(fd).st_size
                if full:
                    data += _read_rest(fd)
            else:
                size = len(data)  # read whole: no fstat needed
        finally:
            os.close(fd)
        _check_framing(key, path, data, size, whole=len(data) == size)

    @_os_errors("read a result from")
    def verify_many(self, keys: Iterable[str], full: bool = False) -> dict[str, Exception]:
        """:meth:`verify` of many results (three system calls per small result)."""
        bad: dict[str, Exception] = {}
        verify = FileStore.verify.__wrapped__  # type: ignore[attr-defined]
        for k in keys:
            try:
                verify(self, k, full)
            except (CorruptResult, KeyError) as e:
                bad[k] = e
        return bad

    def prefetch(self) -> None:
        """Start listing the results in a child process, to be taken by the next
        :meth:`list` (:mod:`jug.backends.prefetch`: a large store lists while the jugfile
        loads)."""
        if self._prefetch is None:
            self._prefetch = Prefetch.start(self._results)

    @_os_errors("list the results in")
    def list(self) -> Iterable[str]:
        if self._prefetch is not None:
            started, self._prefetch = self._prefetch, None
            names = started.take()
            if names is not None:
                return names
        out: list[str] = []
        try:
            subdirs = os.scandir(self._results)
        except (FileNotFoundError, NotADirectoryError):
            return out
        with subdirs:
            for sub in subdirs:
                if len(sub.name) != 2:
                    continue
                prefix = sub.name
                try:  # listdir: names only, no DirEntry objects (a third faster on 200k)
                    out.extend([prefix + n for n in os.listdir(sub.path) if n[0] != "."])
                except FileNotFoundError:
                    continue
        return out

    @_os_errors("remove a result from")
    def remove(self, key: str) -> bool:
        return _unlink(self._result_path(key)[1])

    # -- locks -----------------------------------------------------------------------
    def claim(self, key: str, owner: dict | None = None) -> Claim:
        """What a worker does before running a task (lock, then look for a result and a
        failure mark) in one call: the per-call error translation once, not three times."""
        try:
            if not self._lock(key, owner):
                return _NOT_CLAIMED
        except OSError as e:
            raise store_os_error(e, "take a lock in", self.path) from None
        return Claim(True, _exists(f"{self._results}/{key[:2]}/{key[2:]}"),
                     _exists(f"{self._failed}/{key}"))

    @_os_errors("take a lock in")
    def lock(self, key: str, owner: dict | None = None) -> bool:
        return self._lock(key, owner)

    def _lock(self, key: str, owner: dict | None = None) -> bool:
        path = f"{self._locks}/{key}"
        body = json.dumps(owner).encode() if owner else _owner.lock_body()
        try:
            fd = os.open(path, _CREATE, _FILE_MODE)
        except FileExistsError:
            return False
        except (FileNotFoundError, NotADirectoryError):  # no locks folder (yet, or any more)
            self._make_dir(self._locks)
            try:
                fd = os.open(path, _CREATE, _FILE_MODE)
            except FileExistsError:
                return False
        try:
            os.write(fd, body)
        except BaseException:  # disk full, or a signal: leave no owner-less lock behind
            os.close(fd)
            _unlink(path)
            raise
        os.close(fd)
        if not owner:
            if self._generation != _owner.fork_generation[0]:  # a forked child: not its locks
                self._taken.clear()
                self._generation = _owner.fork_generation[0]
            self._taken[key] = time.monotonic()
        return True

    def unlock(self, key: str) -> bool:
        """Release the lock of ``key`` if this process holds it (a reclaimed lock is left alone).

        A lock this process took less than :data:`TRUST_OWN_LOCK` seconds ago is removed
        at once (one system call); an older one is read back first, since a worker that
        judged this one dead may have reclaimed it and taken it itself.
        """
        try:
            with self._heartbeat_mutex:
                return self._unlock(key)
        except OSError as e:
            raise store_os_error(e, "release a lock in", self.path) from None

    def _unlock(self, key: str) -> bool:
        path = f"{self._locks}/{key}"
        taken = self._taken.pop(key, None)
        if (taken is not None and time.monotonic() - taken < TRUST_OWN_LOCK
                and self._generation == _owner.fork_generation[0]):
            return _unlink(path)
        data = _read_small(path)
        if data is None:
            return False
        if data.startswith(_owner.lock_signature()):  # our own lock record
            return _unlink(path)
        owner = _parse_json(data)
        if _owner.is_current(owner):
            return _unlink(path)
        _warn_not_owner(key, owner)
        return False

    @_os_errors("remove a lock in")
    def force_unlock(self, key: str) -> bool:
        self._taken.pop(key, None)
        return _unlink(f"{self._locks}/{key}")

    @_os_errors("reclaim a lock in")
    def reclaim(self, key: str, owner: dict) -> bool:
        """Move the lock aside (atomic rename), check it was ``owner``'s, then delete it."""
        path = f"{self._locks}/{key}"
        aside = f"{self._locks}/.reclaim.{key}.{_owner.HOST}.{os.getpid()}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if _read_lock(aside) == owner:
            _unlink(aside)
            return True
        try:  # not the lock we judged dead: put it back unless a new one exists already
            os.link(aside, path)
        except FileExistsError:
            pass
        _unlink(aside)
        return False

    @_os_errors("read a lock in")
    def is_locked(self, key: str) -> bool:
        return _exists(f"{self._locks}/{key}")

    @_os_errors("read a lock in")
    def lock_owner(self, key: str) -> dict | None:
        return _read_lock(f"{self._locks}/{key}")

    @_os_errors("list the locks in")
    def list_locks(self) -> dict[str, dict]:
        return _read_json_dir(self._locks, _read_lock)

    @_os_errors("refresh a lock in")
    def heartbeat(self, key: str) -> None:
        """Refresh the lock of ``key`` only while it still holds this process's owner record.

        Under the mutex that :meth:`unlock` takes, so a lock released meanwhile by this
        process is never re-created; a lock reclaimed and re-taken by another worker is left
        alone (its record names another owner).
        """
        path = f"{self._locks}/{key}"
        with self._heartbeat_mutex:
            owner = _read_json(path, missing=None)
            if not owner or not _owner.is_current(owner):
                return
            owner["heartbeat"] = time.time()
            self._atomic_write(self._locks, path, json.dumps(owner).encode())

    # -- failures --------------------------------------------------------------------
    @_os_errors("write a failure mark in")
    def fail(self, key: str, info: dict) -> None:
        self._atomic_write(self._failed, f"{self._failed}/{key}",
                           json.dumps(info, default=str).encode())

    @_os_errors("read a failure mark in")
    def is_failed(self, key: str) -> bool:
        return _exists(f"{self._failed}/{key}")

    @_os_errors("list the failure marks in")
    def list_failed(self) -> dict[str, dict]:
        return _read_json_dir(self._failed)

    @_os_errors("remove a failure mark in")
    def clear_failed(self, key: str) -> bool:
        return _unlink(f"{self._failed}/{key}")

    # -- documents -------------------------------------------------------------------
    @_os_errors("write a document in")
    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        folder = os.path.join(self._docs, namespace)
        self._atomic_write(folder, os.path.join(folder, name + ".json"),
                           json.dumps(doc, default=str).encode())

    @_os_errors("read documents in")
    def read_docs(self, namespace: str) -> dict[str, dict]:
        """Plain documents, and the newest readable version of each cas_doc document (one
        listing; old versions are never read)."""
        folder = os.path.join(self._docs, namespace)
        versioned: dict[str, list[int]] = {}
        plain = _read_json_dir(folder, skip=partial(_note_cas, versioned))
        docs = {k[:-5]: v for k, v in plain.items()}
        for name, versions in versioned.items():
            for v in sorted(versions, reverse=True):
                doc = _read_json(_cas_path(folder, name, v), missing=None)
                if doc is not None and "unreadable" not in doc:
                    docs[name] = doc
                    break
        return docs

    @_os_errors("read a document in")
    def read_doc(self, namespace: str, name: str) -> dict | None:
        return _read_json(os.path.join(self._docs, namespace, name + ".json"), missing=None)

    @_os_errors("remove a document in")
    def remove_doc(self, namespace: str, name: str) -> bool:
        folder = os.path.join(self._docs, namespace)
        removed = _unlink(os.path.join(folder, name + ".json"))
        for v in _cas_versions(folder, name).get(name, []):
            removed = _unlink(_cas_path(folder, name, v)) or removed
        return removed

    @_os_errors("write a document in")
    def cas_doc(self, namespace: str, name: str, doc: dict, version: int) -> bool:
        """Each version is its own file, made by ``link`` (exclusive, NFS included): of two
        writers of version N+1 exactly one creates it.  No lock, so a writer killed halfway
        blocks nobody; old versions are pruned, and a writer that read a version so old that
        its successor was pruned (and so re-created it) sees the newer ones and withdraws."""
        folder = os.path.join(self._docs, namespace)
        self._ensure_dir(folder)
        if self._stored_version(folder, name) != version:
            return False
        target = _cas_path(folder, name, version + 1)
        body = json.dumps({**doc, "version": version + 1}, default=str).encode()
        if not self._create_exclusive(folder, target, body):
            return False
        newer = _cas_versions(folder, name).get(name, [])
        if max(newer) >= version + 1 + _CAS_KEEP:  # a pruned number made again: stale
            _unlink(target)
            return False
        _unlink(os.path.join(folder, name + ".json"))  # a plain write it replaces
        for v in newer:
            if v <= version + 1 - _CAS_KEEP:
                _unlink(_cas_path(folder, name, v))
        return True

    def _stored_version(self, folder: str, name: str) -> int:
        """The version of document ``name``: its newest cas file, else the plain one's."""
        versions = _cas_versions(folder, name).get(name)
        if versions:
            return max(versions)
        return doc_version(_read_json(os.path.join(folder, name + ".json"), missing=None))

    def _create_exclusive(self, folder: str, path: str, body: bytes) -> bool:
        """Create ``path`` holding ``body`` unless it exists (False); readers never see it
        half-written (a complete temporary file is linked), except where the filesystem has
        no hard links: there it is created exclusively and written (readers skip it until
        it parses)."""
        self._counter += 1
        tmp = f"{folder}/{self._tmp_tag}{self._counter}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            _write_all(fd, [body])
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
        finally:
            _unlink(tmp)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            return False
        try:
            _write_all(fd, [body])
        finally:
            os.close(fd)
        return True


    def close(self) -> None:
        """Collect a listing started and never taken (no child is left behind)."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None

    @_os_errors("remove temporary files in")
    def remove_stale_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove temporary files left by killed writers (older than ``older_than`` s)."""
        n = 0
        now = time.time()
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    p = os.path.join(root, name)
                    try:
                        if now - os.stat(p).st_mtime > older_than:
                            n += _unlink(p)
                    except FileNotFoundError:
                        pass
        return n


#: does a path exist: access(2) answers without an exception for the usual "no" (a stat
#: that fails raises one, four times the CPU of the system call itself)
_exists = functools.partial(os.access, mode=os.F_OK)


def _iov_max() -> int:
    """Buffers one writev may take (POSIX guarantees 16)."""
    try:
        n = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        return 16
    return min(n, 1024) if n > 0 else 16


_IOV_MAX = _iov_max()


#: results up to this size are joined and written with one write (cheaper than writev's setup)
_SMALL_WRITE = 64 * 1024


def _write_all(fd: int, buffers: list) -> None:
    """Write every buffer, in order, with as few system calls as the kernel allows."""
    if len(buffers) <= 2 and sum(map(len, buffers)) <= _SMALL_WRITE:
        data = b"".join(buffers)  # a tiny task's result: one small copy, one write
        while data:
            data = data[os.write(fd, data):]
        return
    views = [v for v in (memoryview(b).cast("B") for b in buffers) if len(v)]
    if not hasattr(os, "writev"):
        views = [memoryview(b"".join(views))] if views else []
    while views:
        n = os.writev(fd, views[:_IOV_MAX]) if hasattr(os, "writev") else os.write(fd, views[0])
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def _read_rest(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _check_framing(key: str, path: str, data: bytes, size: int, whole: bool) -> None:
    """Raise CorruptResult unless header, file size and (if ``whole``) the CRC-32 agree."""
    _fmt, length, crc = check_header(data, key, path)
    if size != HEADER_SIZE + length:
        raise CorruptResult(key, path, f"size {size} bytes, header says {HEADER_SIZE + length}")
    if whole and zlib.crc32(memoryview(data)[HEADER_SIZE:]) != crc:
        raise CorruptResult(key, path, "checksum mismatch")


def _warn_not_owner(key: str, owner: dict) -> None:
    print(f"jug: not releasing lock {key[:12]}: it is held by {_owner.owner_summary(owner)}, "
          "not by this process (it was reclaimed)", file=sys.stderr)


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False
        raise


def _read_small(path: str) -> bytes | None:
    """The bytes of a small file (a lock, a failure mark, a document), or None if there is
    none: open, read, close (no buffered file object: its fstat, ioctl and lseeks were half
    the system calls of reading a lock)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = os.read(fd, _SMALL_READ)
        if len(data) == _SMALL_READ:  # larger than most: read the rest
            data += _read_rest(fd)
    finally:
        os.close(fd)
    return data


_SMALL_READ = 64 * 1024


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {"unreadable": data[:200].decode("utf-8", "replace")}


def _read_json(path: str, missing: Any) -> Any:
    data = _read_small(path)
    return missing if data is None else _parse_json(data)


def _read_lock(path: str) -> dict | None:
    """A lock's owner record; an empty lock file (writer killed before writing its record)
    reads as ``{"empty": True, "locked_at": <mtime>}`` so that its age can be judged."""
    data = _read_small(path)
    if data is None:
        return None
    if not data:
        try:
            return {"empty": True, "locked_at": os.stat(path).st_mtime}
        except FileNotFoundError:
            return None
    return _parse_json(data)


def _check_trusted(path: str, what: str = "the jugdir") -> None:
    """Refuse a store another user owns or anyone can write: its pickles would run their code."""
    reason = untrusted_reason(path)
    if reason:
        raise StoreError(f"refusing to open {what} {path}: {reason}, and a store holds "
                         "pickles that run code when loaded; use a jugdir of your own "
                         "(--jugdir), or set JUG_TRUSTED_UIDS to trust its owner")


def _cas_path(folder: str, name: str, version: int) -> str:
    """The file of version ``version`` of cas_doc document ``name``."""
    return f"{folder}/{name}.json.v{version:012d}"


def _note_cas(versions: dict[str, list[int]], filename: str) -> bool:
    """Skip every file but plain documents; note the version of a cas_doc one in
    ``versions`` (so one listing serves both)."""
    m = _CAS_FILE.match(filename)
    if m:
        versions.setdefault(m.group("name"), []).append(int(m.group("version")))
    return not filename.endswith(".json")


def _cas_versions(folder: str, name: str | None = None) -> dict[str, list[int]]:
    """``{document name: versions present}`` of the cas_doc documents in ``folder`` (of
    ``name`` only, if given): one listing, nothing read."""
    out: dict[str, list[int]] = {}
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return out
    with it:
        for e in it:
            m = _CAS_FILE.match(e.name)
            if m and (name is None or m.group("name") == name):
                out.setdefault(m.group("name"), []).append(int(m.group("version")))
    return out


def _read_json_dir(folder: str, read: Callable[[str], Any] | None = None,
                   skip: Callable[[str], bool] | None = None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return out
    with it:
        for e in it:
            if e.name[0] == "." or (skip is not None and skip(e.name)):
                continue
            v = read(e.path) if read else _read_json(e.path, missing=None)
            if v is not None:
                out[e.name] = v
    return out
