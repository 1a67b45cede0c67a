"""Utilities for jugfiles: ``CustomHash``, ``timed_path``, ``identity``, ``cached_glob``, ``sync_move``."""

from __future__ import annotations

import os
from glob import glob
from typing import Any, Callable

from .cached import CachedFunction
from .hash import hash_one
from .task import TaskGenerator, value

__all__ = ["CustomHash", "timed_path", "hash_with_mtime_size", "identity", "cached_glob",
           "sync_move"]


class CustomHash:
    """Wrap ``obj`` so Tasks hash it with ``hash_function(obj)`` but receive ``obj`` itself.

    ``hash_function`` must be a strong hash returning ``bytes`` or ``str``: equal hashes are
    taken to mean equal objects (see :func:`jug.hash.hash_one` for a helper).
    """

    __slots__ = ("obj", "hash_function")

    def __init__(self, obj: Any, hash_function: Callable[[Any], bytes | str]) -> None:
        self.obj = obj
        self.hash_function = hash_function

    def __jug_hash__(self) -> bytes | str:
        """The custom hash (used by jug.hash when this object is a Task argument)."""
        h = self.hash_function(self.obj)
        if not isinstance(h, (bytes, str)):
            raise TypeError(f"CustomHash: hash_function returned {type(h).__name__}, "
                            "it must return bytes or str")
        return h

    def __jug_value__(self) -> Any:
        """What a Task receives in place of this wrapper: the wrapped object (its value)."""
        return value(self.obj)

    def __repr__(self) -> str:
        return f"CustomHash({self.obj!r}, {getattr(self.hash_function, '__name__', '?')})"


def hash_with_mtime_size(path: str | bytes | os.PathLike) -> str:
    """Hash of a path with its modification time and size (so edits change the hash)."""
    st = os.stat(path)
    p = os.fsdecode(path)
    return hash_one((p, st.st_mtime_ns, st.st_size))


def timed_path(path: str | bytes | os.PathLike) -> CustomHash:
    """``path``, hashed with the file's mtime and size: touching/changing it re-runs dependents."""
    return CustomHash(path, hash_with_mtime_size)


@TaskGenerator
def identity(x: Any) -> Any:
    """``identity(x)`` is a Task whose value is ``x``: a big ``x`` is then hashed only once."""
    return x


def _sorted_glob(pattern: str) -> list[str]:
    """``sorted(glob(pattern))`` (the function cached_glob caches)."""
    return sorted(glob(pattern))


def cached_glob(pat: str) -> list[str]:
    """``sorted(glob(pat))``, computed once and cached in the store (via CachedFunction)."""
    return CachedFunction(_sorted_glob, pat)


def _fsync_dir(folder: str) -> None:
    """fsync a directory so a rename in it is durable (best effort where unsupported)."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_move(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Flush ``src`` to disk, then rename it to ``dst`` atomically (readers never see half a file)."""
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(src, dst)
    _fsync_dir(os.path.dirname(os.path.abspath(os.fspath(dst))))
