"""Which files jug may act on: the ssh/git rule for config files, templates, profiles, stores.

A jugrc can redirect the jugdir, a template folder or profile becomes a shell script run on
the cluster, and a store holds pickles that run code when loaded.  So, like ssh and git, jug
only uses such a file when it is owned by the user running jug (or root) and no other user
can write to it, and it never searches for them in or above a folder every user can write
to (``/tmp``, ``/scratch``): anybody could have planted them there.  Anything else is ignored
with a warning that says why.  ``JUG_TRUSTED_UIDS`` (comma-separated uids or user names)
adds owners to trust, e.g. the colleague who shares a project store with you.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Iterable

__all__ = ["untrusted_reason", "trusted", "read_trusted", "open_to_others", "search_upwards"]

_warned: set[str] = set()


def _user_name(uid: int) -> str:
    try:
        import pwd  # start-up time, and pwd is POSIX-only

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return "?"


def _trusted_uids() -> set[int]:
    """This user, root, and the uids or names listed in ``JUG_TRUSTED_UIDS``."""
    uids = {os.getuid(), 0}
    for item in os.environ.get("JUG_TRUSTED_UIDS", "").split(","):
        item = item.strip()
        if item.isdigit():
            uids.add(int(item))
        elif item:
            try:
                import pwd  # start-up time, and pwd is POSIX-only

                uids.add(pwd.getpwnam(item).pw_uid)
            except (ImportError, KeyError):
                pass
    return uids


def open_to_others(path: str | os.PathLike) -> bool:
    """True if every user may write to ``path`` (world-writable, sticky or not)."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IWOTH)
    except OSError:
        return False


def untrusted_reason(path: str | os.PathLike) -> str | None:
    """Why ``path`` must not be used (another user owns it, or anyone can write it), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # absent: nothing to distrust (callers check existence themselves)
    return _reason(st)


def _reason(st: os.stat_result) -> str | None:
    """Why a file with this ``stat`` must not be used, or None."""
    if st.st_uid not in _trusted_uids():
        return f"it is owned by another user ({_user_name(st.st_uid)}, uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return "every user can write to it"
    return None


def trusted(path: str | os.PathLike, what: str) -> bool:
    """True if ``path`` may be used; else warn once (``what`` names the kind of file)."""
    reason = untrusted_reason(path)
    if reason is None:
        return True
    _ignoring(path, what, reason)
    return False


def _ignoring(path: str | os.PathLike, what: str, reason: str) -> None:
    _warn(f"ignoring {what} {path}: {reason}, so another user could have planted it "
          "(set JUG_TRUSTED_UIDS to trust other owners)")


def read_trusted(path: str | os.PathLike, what: str) -> str | None:
    """The text of ``path`` if it may be used, else None after a warning that says why.

    The owner and mode are those of the open file (``fstat``), so the file checked is the
    file read, even if someone swaps it between a check by name and the read.  Raises
    OSError when it cannot be read (callers say what the file was for).
    """
    with open(path, encoding="utf-8") as f:
        reason = _reason(os.fstat(f.fileno()))
        if reason is not None:
            _ignoring(path, what, reason)
            return None
        return f.read()


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"jug: warning: {message}", file=sys.stderr)


def search_upwards(start: Path, names: Iterable[str], what: str,
                   is_wanted=Path.is_file) -> Path | None:
    """The nearest trusted ``names`` entry from ``start`` upwards, or None.

    The search stops below a folder every user can write to (an entry found there is
    reported and ignored); an untrusted entry is ignored with a warning and the search goes on.
    """
    names = tuple(names)
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if open_to_others(folder):
            for name in names:
                if is_wanted(folder / name):
                    _warn(f"ignoring {what} {folder / name}: every user can write to "
                          f"{folder}, so anybody could have planted it")
            return None
        for name in names:
            candidate = folder / name
            if is_wanted(candidate) and trusted(candidate, what):
                return candidate
    return None
