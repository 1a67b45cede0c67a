"""``jug execute -j K``: load the jugfile and hash its graph once, then fork K full workers.

Starting K separate processes makes each import jug, run the jugfile and hash the whole graph;
on a node granted 128 cores that start-up is most of a short job.  Here the parent does it
once (under :func:`~jug.engine.gcpause.building_graph`, so the graph is frozen out of the
garbage collector and stays shared copy-on-write) and forks.  Each child is a whole worker
as :func:`jug.engine.worker.execute` runs it: its own store connection (opened after the
fork: a Redis socket must never be shared by two processes), its own pid in its lock
records, heartbeat, worker record and exit code; its log lines start with ``[w<i>]``.

The parent only supervises: it forwards SIGTERM, SIGUSR1, SIGUSR2 and SIGINT to every
child, reaps them at once (a dead child's pid must be gone, not a zombie, for a sibling to
prove it dead and reclaim its lock), says which child died and how, and exits with the most
severe child status (:func:`severity`).  A child whose parent dies gets SIGTERM from the
kernel (``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent pid) and drains as a
single worker does on SIGTERM: no orphan runs on, no lock is left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, TextIO

from ..backends import CorruptResult, StoreError
from ..backends.owner import after_fork
from ..jugfile import JugfileError, Loaded, load, open_store
from ..task import Task
from . import worker as _worker
from .gcpause import building_graph

#: signals the parent passes on to every child
FORWARDED = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
#: Linux prctl option: the signal a process gets when its parent dies
PR_SET_PDEATHSIG = 1
#: variables listing the GPUs a process may use (NVIDIA, AMD): each forked worker sees its share
GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


def gpu_share(devices: str, index: int, k: int) -> str:
    """The GPUs worker ``index`` of ``k`` sees of the list ``devices`` ("0,1,2,3"), dealt
    round-robin: with at least k GPUs, worker i gets GPUs i, i+k, ...; with fewer, workers
    share them (worker i gets GPU i mod G)."""
    ids = [d.strip() for d in devices.split(",") if d.strip()]
    if not ids or k <= 1:
        return devices
    if len(ids) >= k:
        return ",".join(ids[index::k])
    return ids[index % len(ids)]


def _split_gpus(index: int, k: int) -> None:
    for name in GPU_VARIABLES:
        if os.environ.get(name):
            os.environ[name] = gpu_share(os.environ[name], index, k)


def allowed_cpus() -> int:
    """The CPUs this process may run on: inside a batch job, what the scheduler granted."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ChildEnd:
    """How one forked worker ended: its exit code, or the signal that killed it."""

    index: int
    pid: int
    code: int | None
    signal: int | None

    @classmethod
    def of(cls, index: int, pid: int, status: int) -> ChildEnd:
        if os.WIFSIGNALED(status):
            return cls(index, pid, None, os.WTERMSIG(status))
        return cls(index, pid, os.WEXITSTATUS(status), None)

    @property
    def status(self) -> int:
        """The shell's view: the exit code, or 128 + the signal number."""
        return self.code if self.signal is None else 128 + self.signal

    def describe(self) -> str:
        if self.signal is not None:
            how = f"was killed by {signal.Signals(self.signal).name}"
        else:
            how = f"exited with status {self.code}"
        return f"worker w{self.index} (pid {self.pid}) {how}"


def severity(status: int) -> int:
    """Rank of an exit status, most severe highest: killed by a signal (128 + N, not 143) >
    store fault (2) > stopped by a signal (143) > other non-zero > task failure (1) > 0."""
    if status == 0:
        return 0
    if status == _worker.EXIT_FAILED:
        return 1
    if status == _worker.EXIT_TERMINATED:
        return 3
    if status == _worker.EXIT_STORE_FAULT:
        return 4
    if status > 128:
        return 5
    return 2


def run_forked(args: Any, k: int) -> int:
    """Load once, fork ``k`` workers, supervise them; the most severe child status."""
    if not _worker.start_exit_checks():
        return 2
    try:
        store = open_store(args.jugfile, args.jugdir)
        with building_graph():
            loaded = load(args.jugfile, store, getattr(args, "jugfile_args", None))
            for t in loaded.tasks:
                t.hash()  # hashed once here; the children inherit the cached hashes
        _verify_once(store, loaded.tasks, int(args.verify_limit))
        store.close()  # no connection crosses the fork
        args = argparse.Namespace(**{**vars(args), "verify_limit": 0})  # done above
    except (StoreError, JugfileError) as e:
        print(f"jug: {e}", file=sys.stderr)
        return 2 if isinstance(e, StoreError) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    children: dict[int, int] = {}
    old = {sig: signal.signal(sig, _forward_to(children)) for sig in FORWARDED}
    try:
        for index in range(k):
            pid = os.fork()
            if pid == 0:
                os._exit(_child(index, k, args, loaded, parent))
            children[pid] = index
        return _supervise(children)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _verify_once(store: Any, tasks: list, limit: int) -> None:
    """The cheap integrity check of the stored results (``--verify-limit``) that each worker
    makes at start, made once for all K: corrupt results are removed, so they rerun."""
    finished = set(store.list())
    names = {t.hash(): t.name for t in tasks if t.hash() in finished}
    if limit == 0 or (limit > 0 and len(names) > limit):
        return
    for h, err in store.verify_many(list(names)).items():
        if isinstance(err, CorruptResult):
            _worker._report_corrupt(names[h], err)
            store.remove(h)


def _forward_to(children: dict[int, int]) -> Any:
    def forward(signum: int, _frame: Any) -> None:
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
    return forward


def _supervise(children: dict[int, int]) -> int:
    """Reap each child as it ends (at once: a zombie's pid still looks alive to a sibling
    judging its lock), say how the ones that did not end normally ended."""
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        end = ChildEnd.of(children.pop(pid), pid, status)
        if end.status != 0:
            print(f"jug: {end.describe()}", file=sys.stderr, flush=True)
        if severity(end.status) > severity(worst):
            worst = end.status
    return worst


def _child(index: int, k: int, args: Any, loaded: Loaded, parent: int) -> int:
    """The body of forked worker ``index``; returns its exit code (never raises)."""
    try:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, _interrupt_once)
        after_fork()
        if not _die_with_parent(parent):
            return _worker.EXIT_TERMINATED
        _split_gpus(index, k)
        sys.stdout = _Tagged(sys.stdout, index)
        sys.stderr = _Tagged(sys.stderr, index)
        _worker.repeat_window[0] = 1.0  # the same signal, direct and forwarded: act once
        Task.store = None
        return _worker.execute(args, preloaded=loaded)
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass


_last_interrupt: list[float] = [-1e9]


def _interrupt_once(_signum: int, _frame: Any) -> None:
    """Ctrl-C reaches a forked worker twice (from the terminal, and from its parent): raise
    KeyboardInterrupt once, so the second copy cannot cut short the release it started."""
    now = time.monotonic()
    if now - _last_interrupt[0] >= 1.0:
        _last_interrupt[0] = now
        raise KeyboardInterrupt


def _die_with_parent(parent: int) -> bool:
    """Arrange SIGTERM when the parent dies; False if it is already gone."""
    try:
        import ctypes  # start-up time: only forked workers need it

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:
        return False
    if not armed:  # not Linux: a thread checks the parent pid every second
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="jug-parent-watch").start()
    return True


def _watch_parent(parent: int) -> None:
    me = os.getpid()
    while os.getppid() == parent:
        threading.Event().wait(1.0)
    os.kill(me, signal.SIGTERM)


class _Tagged:
    """A text stream whose every line starts with ``[w<index>] ``: which forked worker wrote
    it.  Whole lines go out in one write, so that the lines of workers sharing one log file
    or pipe never interleave (``print`` writes the text and its newline separately)."""

    def __init__(self, inner: TextIO, index: int) -> None:
        self.inner = inner
        self.tag = f"[w{index}] "
        self.pending = ""  # the start of a line not yet written
        self.at_line_start = True  # the next character written begins a line

    def write(self, text: str) -> int:
        data = self.pending + text
        cut = data.rfind("\n") + 1
        self.pending = data[cut:]
        if cut:
            self._emit(data[:cut])
        return len(text)

    def _emit(self, text: str) -> None:
        out = []
        for line in text.splitlines(keepends=True):
            if self.at_line_start and line != "\n":
                out.append(self.tag)
            out.append(line)
            self.at_line_start = line.endswith("\n")
        self.inner.write("".join(out))

    def flush(self) -> None:
        if self.pending:
            text, self.pending = self.pending, ""
            self._emit(text)
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
