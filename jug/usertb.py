"""Tracebacks for users: their own frames, never jug's.

When a task or a jugfile raises, the user needs the lines of *their* code that led there;
frames inside jug (the worker loop, the store) are noise, and for a mistake jug reports
clearly (a lambda as Task, an unpicklable result) they make it look like jug crashed.
"""

from __future__ import annotations

import os

_JUG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_traceback(exc: BaseException) -> str:
    """``exc`` formatted with only the frames outside jug's package (no header if none)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_JUG_DIR)]
    tail = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return tail
    return ("Traceback (most recent call last):\n"
            + "".join(traceback.StackSummary.from_list(frames).format()) + tail)


def _frame_path(line: str) -> str | None:
    """The file of a traceback line ``  File "path", line N, in f`` (None: not a frame)."""
    if not line.startswith('  File "'):
        return None
    end = line.find('", line ')
    return line[8:end] if end > 8 else None


def trim_traceback_text(text: str) -> str:
    """A formatted traceback (as stored) without jug's own frames: each frame line and the
    source lines under it go when its file is inside jug's package."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        path = _frame_path(line)
        if path is not None:
            skipping = os.path.abspath(path).startswith(_JUG_DIR)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)
