"""What the fake LSF (tests/fakelsf) and the fake HTCondor (tests/fakecondor) share.

Each fake keeps its state in one folder (``jobs.json`` under a lock, every call appended to
``calls.jsonl``) and, like the real systems, dispatches jobs from a daemon of its own (the
fake mbatchd or schedd): pending jobs start when slots free up, run limits are enforced, and
the daemon exits by itself once nothing is left to run.  Tests import :func:`stop_all` to
leave no process behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

IDLE_EXIT = 2.0  # seconds a daemon waits with nothing to run before it exits
TICK = 0.2  # seconds between two rounds of a daemon


@contextmanager
def locked(state: str) -> Iterator[dict]:
    """The state document of a fake, under its lock; written back when the block ends."""
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        path = os.path.join(state, "jobs.json")
        doc = json.load(open(path)) if os.path.exists(path) else {"next": 1, "jobs": {}}
        yield doc
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(path + ".tmp", path)


def record(state: str, cmd: str, argv: list[str]) -> None:
    """Append one call to ``calls.jsonl`` (tests count and inspect them)."""
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "calls.jsonl"), "a") as f:
        f.write(json.dumps({"cmd": cmd, "argv": argv, "cwd": os.getcwd(),
                            "time": time.time()}) + "\n")


def calls(state: str | Path) -> list[dict]:
    """Every recorded call of a fake."""
    path = Path(state) / "calls.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def alive(pid: int | None) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def signal_group(pid: int | None, sig: int) -> None:
    """Send ``sig`` to the process group of a job (jobs run in sessions of their own)."""
    if pid:
        try:
            os.killpg(pid, sig)
        except OSError:
            pass


def start_daemon(script: str, state: str) -> None:
    """Start the fake's daemon in the background (it exits at once if one already runs)."""
    subprocess.Popen([sys.executable, script, "_daemon", state], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)


def run_daemon(state: str, round_: Callable[[dict, dict], bool]) -> int:
    """The daemon loop: ``round_(doc, children)`` under the lock every TICK, returning True
    while anything is left to run.  One daemon per state folder (a lock file says which);
    before exiting it lets go of that lock and looks once more, so a job submitted at that
    moment is never left without a daemon."""
    children: dict[int, subprocess.Popen] = {}
    guard = open(os.path.join(state, "daemon.lock"), "w")
    if not _try_lock(guard):
        return 0
    idle_since = None
    while True:
        with locked(state) as doc:
            doc["daemon"] = os.getpid()
            busy = round_(doc, children)
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = time.time()
        elif time.time() - idle_since > IDLE_EXIT:
            fcntl.flock(guard, fcntl.LOCK_UN)
            with locked(state) as doc:
                busy = round_(doc, children)
            if not busy or not _try_lock(guard):
                return 0
            idle_since = None
        time.sleep(TICK)


def _try_lock(f: Any) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def finished(pid: int, children: dict[int, subprocess.Popen]) -> int | None:
    """The exit status of a job process that ended (None: still running); -1 if unknown
    (started by an earlier daemon, so not this one's child)."""
    proc = children.get(pid)
    if proc is not None:
        code = proc.poll()
        if code is not None:
            children.pop(pid, None)
        return code
    return None if alive(pid) else -1


def stop_all(state: str | Path) -> None:
    """Kill every job process and the daemon of a fake (test teardown)."""
    path = Path(state) / "jobs.json"
    if not path.exists():
        return
    doc = json.loads(path.read_text())
    for job in doc.get("jobs", {}).values():
        for el in (job.get("elements") or job.get("procs") or {}).values():
            signal_group(el.get("pid"), signal.SIGKILL)
    if doc.get("daemon"):
        try:
            os.kill(doc["daemon"], signal.SIGKILL)
        except OSError:
            pass
