"""The in-memory store (``--jugdir dict_store``): for tests and single-process use.

Values go through the same framing as on disk (so a result that cannot be pickled fails the
same way) and are decoded on load, so callers never share mutable state with the store.
"""

from __future__ import annotations

import time
import zlib
from typing import Any, Iterable

from . import owner as _owner
from .base import (
    HEADER_SIZE,
    CorruptResult,
    Store,
    check_header,
    decode_result,
    doc_version,
    encode_result,
)


class DictStore(Store):
    """Results, locks and documents in Python dictionaries."""

    def __init__(self) -> None:
        self.description = "dict_store"
        self._results: dict[str, bytes] = {}
        self._locks: dict[str, dict] = {}
        self._failed: dict[str, dict] = {}
        self._docs: dict[str, dict[str, dict]] = {}

    def save(self, key: str, value: Any) -> None:
        self._results[key] = encode_result(value)

    def load(self, key: str) -> Any:
        return decode_result(self._results[key], key, "dict_store")

    def exists(self, key: str) -> bool:
        return key in self._results

    def list(self) -> Iterable[str]:
        return list(self._results)

    def remove(self, key: str) -> bool:
        return self._results.pop(key, None) is not None

    def lock(self, key: str, owner: dict | None = None) -> bool:
        if key in self._locks:
            return False
        self._locks[key] = owner or _owner.current_owner()
        return True

    def unlock(self, key: str) -> bool:
        owner = self._locks.get(key)
        if owner is None or not _owner.is_current(owner):
            return False
        del self._locks[key]
        return True

    def force_unlock(self, key: str) -> bool:
        return self._locks.pop(key, None) is not None

    def verify(self, key: str, full: bool = False) -> None:
        """Header, length and checksum of the stored bytes (raises CorruptResult or KeyError).

        In memory the checksum costs nothing extra, so it is always checked."""
        data = self._results[key]
        fmt, length, crc = check_header(data, key, "dict_store")
        if len(data) - HEADER_SIZE != length:
            raise CorruptResult(key, "dict_store", f"truncated: payload is {len(data) - HEADER_SIZE} "
                                f"bytes, expected {length}")
        if zlib.crc32(memoryview(data)[HEADER_SIZE:]) != crc:
            raise CorruptResult(key, "dict_store", "checksum mismatch")

    def is_locked(self, key: str) -> bool:
        return key in self._locks

    def lock_owner(self, key: str) -> dict | None:
        return self._locks.get(key)

    def list_locks(self) -> dict[str, dict]:
        return dict(self._locks)

    def heartbeat(self, key: str) -> None:
        if key in self._locks:
            self._locks[key]["heartbeat"] = time.time()

    def fail(self, key: str, info: dict) -> None:
        self._failed[key] = dict(info)

    def is_failed(self, key: str) -> bool:
        return key in self._failed

    def list_failed(self) -> dict[str, dict]:
        return dict(self._failed)

    def clear_failed(self, key: str) -> bool:
        return self._failed.pop(key, None) is not None

    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        self._docs.setdefault(namespace, {})[name] = dict(doc)

    def read_docs(self, namespace: str) -> dict[str, dict]:
        return dict(self._docs.get(namespace, {}))

    def read_doc(self, namespace: str, name: str) -> dict | None:
        doc = self._docs.get(namespace, {}).get(name)
        return None if doc is None else dict(doc)

    def remove_doc(self, namespace: str, name: str) -> bool:
        return self._docs.get(namespace, {}).pop(name, None) is not None

    def cas_doc(self, namespace: str, name: str, doc: dict, version: int) -> bool:
        """Compare-and-set in this process's memory (one process: nothing can interleave)."""
        docs = self._docs.setdefault(namespace, {})
        if doc_version(docs.get(name)) != version:
            return False
        docs[name] = {**doc, "version": version + 1}
        return True
