"""Listing a large file store in a child process while the parent loads the jugfile.

``jug status`` and a worker's start need two things that take long on a big store: the
hashes of the jugfile's tasks (CPU: loading and hashing them) and the listing of the
results (on NFS a round trip per folder and per few hundred names; on tmpfs about a second
of kernel time per million names).  Neither needs the other until both are done, so the file
store lists in a forked child (started before the jugfile loads, when the process is still
small) that writes the names into an anonymous in-memory file; the parent reads them when it
asks for the listing.  (A thread cannot do it: ``os.listdir`` takes the GIL back for every
name, and the hashing thread holds it.)  Where ``fork`` or ``memfd_create`` is missing, or
on a small store, the listing is done in place as before.
"""

from __future__ import annotations

import os

#: fewer result folders than this (of 256: a store of a few thousand results) are listed in
#: place: the listing is cheap, and a fork is not
MIN_FOLDERS = 64


class Prefetch:
    """A listing under way in a child process (:meth:`start`), collected by :meth:`take`."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    @classmethod
    def start(cls, results: str) -> Prefetch | None:
        """Start listing the result folders under ``results``; None if it is not worth it
        (a small store) or not possible here."""
        if not (hasattr(os, "fork") and hasattr(os, "memfd_create")):
            return None
        try:
            folders = [n for n in os.listdir(results) if len(n) == 2]
        except OSError:
            return None
        if len(folders) < MIN_FOLDERS:
            return None
        try:
            fd = os.memfd_create("jug-listing", os.MFD_CLOEXEC)
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(fd)
            return None
        if pid == 0:  # the child: list, write, leave without running the parent's exit code
            os._exit(_list_into(results, folders, fd))
        return cls(pid, fd)

    def take(self) -> list[str] | None:
        """The result names (each folder's name and file name, as ``FileStore.list``), or
        None if the child failed (the caller lists in place)."""
        try:
            _, status = os.waitpid(self.pid, 0)
            if status != 0:
                return None
            size = os.fstat(self.fd).st_size
            chunks = []
            got = 0
            while got < size:
                chunk = os.pread(self.fd, size - got, got)
                if not chunk:
                    return None
                chunks.append(chunk)
                got += len(chunk)
        except OSError:
            return None
        finally:
            os.close(self.fd)
        text = b"".join(chunks).decode("ascii", "replace")
        return text.split("\n")[:-1] if text else []

    def cancel(self) -> None:
        """Wait for the child and drop what it listed (the store closes unused)."""
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        os.close(self.fd)


def _list_into(results: str, folders: list[str], fd: int) -> int:
    """The child's work: every result name, one per line; its exit status."""
    try:
        base = os.fsencode(results)
        for folder in folders:
            prefix = folder.encode()
            try:
                names = os.listdir(base + b"/" + prefix)
            except FileNotFoundError:
                continue
            keep = [prefix + n for n in names if n[:1] != b"."]  # not temporaries
            if keep:
                data = memoryview(b"\n".join(keep) + b"\n")
                while data:
                    data = data[os.write(fd, data):]
        return 0
    except BaseException:  # noqa: BLE001 (a signal too: the parent lists in place)
        return 1
