"""Store backends, chosen by the jugdir string: a path, ``dict_store`` or ``redis://...``."""

from __future__ import annotations

import os
import re

from .base import CorruptResult, Store, StoreError, UnsavedResult

__all__ = ["select_store", "default_jugdir", "Store", "StoreError", "CorruptResult",
           "UnsavedResult"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
KNOWN = "a directory path, 'dict_store', or 'redis://[:password@]host:port/[db]'"


def select_store(jugdir: str | Store) -> Store:
    """Open the store named by ``jugdir`` (a Store instance is returned as is)."""
    if isinstance(jugdir, Store):
        return jugdir
    if not isinstance(jugdir, (str, os.PathLike)):
        raise StoreError(f"jugdir must be a string, got {type(jugdir).__name__}: {jugdir!r}")
    jugdir = os.fspath(jugdir)
    if jugdir == "dict_store":
        # start-up time: a store's module (and redis) loads only when that store is used
        from .dict_store import DictStore

        return DictStore()
    m = _SCHEME.match(jugdir)
    if m:
        scheme = m.group(1).lower()
        if scheme in ("redis", "rediss"):
            # start-up time: a store's module (and redis) loads only when that store is used
            from .redis_store import RedisStore

            return RedisStore(jugdir)
        if scheme == "file":
            return _file_store(jugdir[len("file://"):])
        raise StoreError(f"unknown jugdir scheme '{scheme}://' in {jugdir!r}; use {KNOWN}")
    if not jugdir:
        raise StoreError(f"empty jugdir; use {KNOWN}")
    return _file_store(jugdir)


def _file_store(path: str) -> Store:
    # start-up time: a store's module (and redis) loads only when that store is used
    from .file_store import FileStore

    return FileStore(path)


def default_jugdir(jugfile: str) -> str:
    """``<jugfile without .py>.jugdata`` next to the jugfile."""
    base = os.path.abspath(jugfile)
    if base.endswith(".py"):
        base = base[:-3]
    return base + ".jugdata"
