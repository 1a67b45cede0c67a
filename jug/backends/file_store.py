"""The file store: a directory, safe for many processes on many machines (NFS included).

Layout under the jugdir::

    results/ab/cdef...      one framed result per task hash (fan-out on 2 hex chars)
    locks/<hash>            exclusive-create lock files holding the owner as JSON
    failed/<hash>           failure marks (JSON)
    docs/<namespace>/<name>.json

Durability policy: a result is written to a temporary file in its final folder and renamed
into place, so readers and a killed writer never see half a file; no fsync per task (it costs
10x the rest of the task overhead).  If the machine itself crashes, a result that did not
reach the disk is at worst truncated or zeroed, which the length + CRC-32 framing detects:
it is reported and recomputed, never loaded.  Set ``JUG_FSYNC=1`` to fsync every result.
"""

from __future__ import annotations

import errno
import json
import os
import time
from typing import Any, Iterable

from . import owner as _owner
from .base import (
    HEADER_SIZE,
    CorruptResult,
    Store,
    StoreError,
    check_header,
    decode_result,
    encode_result,
)

_TMP_PREFIX = ".tmp."


class FileStore(Store):
    """Results, locks and documents as files under one directory."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.description = self.path
        self._results = os.path.join(self.path, "results")
        self._locks = os.path.join(self.path, "locks")
        self._failed = os.path.join(self.path, "failed")
        self._docs = os.path.join(self.path, "docs")
        self._made: set[str] = set()
        self._fsync = os.environ.get("JUG_FSYNC", "") not in ("", "0")
        self._tmp_tag = f"{_TMP_PREFIX}{_owner._HOST}.{os.getpid()}."
        self._counter = 0
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise StoreError(f"jugdir {self.path} exists and is not a directory")

    # -- helpers ---------------------------------------------------------------------
    def _ensure_dir(self, d: str) -> None:
        if d in self._made:
            return
        try:
            os.makedirs(d, exist_ok=True)
        except PermissionError as e:
            raise StoreError(f"cannot create {d}: {e.strerror}. Is the jugdir writable? "
                             "Choose another one with --jugdir.") from None
        except OSError as e:
            raise StoreError(f"cannot create {d}: {e.strerror}. Is the jugdir writable? "
                             "Choose another one with --jugdir.") from None
        self._made.add(d)

    def _result_path(self, key: str) -> tuple[str, str]:
        d = f"{self._results}/{key[:2]}"
        return d, f"{d}/{key[2:]}"

    def _atomic_write(self, folder: str, path: str, data: bytes, fsync: bool = False) -> None:
        """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
        self._ensure_dir(folder)
        self._counter += 1
        tmp = f"{folder}/{self._tmp_tag}{self._counter}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:  # folder removed under us (cleanup): make it again
            self._made.discard(folder)
            self._ensure_dir(folder)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except PermissionError as e:
            raise StoreError(f"cannot write in {folder}: {e.strerror}. Is the jugdir writable?") from None
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
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
        data = encode_result(value)
        folder, path = self._result_path(key)
        self._atomic_write(folder, path, data, self._fsync)

    def load(self, key: str) -> Any:
        _, path = self._result_path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise KeyError(key) from None
        return decode_result(data, key, path)

    def result_path(self, key: str) -> str:
        """Where the result of ``key`` lives (for messages)."""
        return self._result_path(key)[1]

    def exists(self, key: str) -> bool:
        return os.path.exists(self._result_path(key)[1])

    def verify(self, key: str) -> None:
        """Cheap integrity check (header and length, no checksum): raises CorruptResult."""
        _, path = self._result_path(key)
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER_SIZE)
                size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            raise KeyError(key) from None
        _fmt, length, _crc = check_header(head, key, path)
        if size != HEADER_SIZE + length:
            raise CorruptResult(key, path, f"size {size} bytes, header says {HEADER_SIZE + length}")

    def list(self) -> Iterable[str]:
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

    def remove(self, key: str) -> bool:
        return _unlink(self._result_path(key)[1])

    # -- locks -----------------------------------------------------------------------
    def lock(self, key: str, owner: dict | None = None) -> bool:
        path = f"{self._locks}/{key}"
        body = json.dumps(owner).encode() if owner else _owner.lock_body()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        except PermissionError as e:
            raise StoreError(f"cannot create lock in {self._locks}: {e.strerror}. "
                             "Is the jugdir writable?") from None
        except OSError:  # the locks folder does not exist (yet, or any more)
            self._made.discard(self._locks)
            self._ensure_dir(self._locks)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return False
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
        return True

    unlock_checks_owner = True

    def unlock(self, key: str) -> None:
        """Release the lock of ``key`` if this process holds it (a reclaimed lock is left alone)."""
        path = f"{self._locks}/{key}"
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        if data.startswith(_owner.lock_signature()):  # fast path: our own lock record
            _unlink(path)
            return
        owner = _read_json(path, missing=None)
        if owner is None:
            return
        if _owner.is_current(owner):
            _unlink(path)
        else:
            _warn_not_owner(key, owner)

    def force_unlock(self, key: str) -> None:
        _unlink(f"{self._locks}/{key}")

    def reclaim(self, key: str, owner: dict) -> bool:
        """Move the lock aside (atomic rename), check it was ``owner``'s, then delete it."""
        path = f"{self._locks}/{key}"
        aside = f"{self._locks}/.reclaim.{key}.{_owner._HOST}.{os.getpid()}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if _read_json(aside, missing=None) == owner:
            _unlink(aside)
            return True
        try:  # not the lock we judged dead: put it back unless a new one exists already
            os.link(aside, path)
        except FileExistsError:
            pass
        _unlink(aside)
        return False

    def is_locked(self, key: str) -> bool:
        return os.path.exists(f"{self._locks}/{key}")

    def lock_owner(self, key: str) -> dict | None:
        return _read_json(f"{self._locks}/{key}", missing=None)

    def list_locks(self) -> dict[str, dict]:
        return _read_json_dir(self._locks)

    def heartbeat(self, key: str) -> None:
        path = f"{self._locks}/{key}"
        owner = _read_json(path, missing=None)
        if owner is None:
            return
        owner["heartbeat"] = time.time()
        self._atomic_write(self._locks, path, json.dumps(owner).encode())

    # -- failures --------------------------------------------------------------------
    def fail(self, key: str, info: dict) -> None:
        self._atomic_write(self._failed, f"{self._failed}/{key}",
                           json.dumps(info, default=str).encode())

    def is_failed(self, key: str) -> bool:
        return os.path.exists(f"{self._failed}/{key}")

    def list_failed(self) -> dict[str, dict]:
        return _read_json_dir(self._failed)

    def clear_failed(self, key: str) -> bool:
        return _unlink(f"{self._failed}/{key}")

    # -- documents -------------------------------------------------------------------
    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        folder = os.path.join(self._docs, namespace)
        self._atomic_write(folder, os.path.join(folder, name + ".json"),
                           json.dumps(doc, default=str).encode())

    def read_docs(self, namespace: str) -> dict[str, dict]:
        docs = _read_json_dir(os.path.join(self._docs, namespace))
        return {k[:-5]: v for k, v in docs.items() if k.endswith(".json")}

    def remove_doc(self, namespace: str, name: str) -> bool:
        return _unlink(os.path.join(self._docs, namespace, name + ".json"))

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


def _warn_not_owner(key: str, owner: dict) -> None:
    import sys

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


def _read_json(path: str, missing: Any) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return missing
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {"unreadable": data[:200].decode("utf-8", "replace")}


def _read_json_dir(folder: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return out
    with it:
        for e in it:
            if e.name[0] == ".":
                continue
            v = _read_json(e.path, missing=None)
            if v is not None:
                out[e.name] = v
    return out
