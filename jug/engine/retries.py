"""Which failures a worker retries, how often, and after how long (``jug execute --retries``).

``--retries N`` gives every task N more attempts after a failed one; ``--retries NAME=N``
(repeatable, or ``a=3,b=1`` in one value) gives the tasks NAME matches (the one task-name
matcher, :func:`jug.taskstate.match_names`) their own count; a later entry wins.  The same
values come from ``JUG_RETRIES`` or a jugrc (``execute: {retries: [2, fetch=5]}``), so
workers that ``jug submit`` starts pick them up too.  ``--retry-on OSError,TimeoutError``
limits retries to those exception classes (and their subclasses); without it any
``Exception`` is retried.  A result that cannot be pickled is never retried: it fails the
same way every time.  The attempts themselves are counted in the store (:mod:`jug.state.attempts`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..backends import Store
from ..config.options import OptionValueError
from ..state.attempts import Attempts, DelayFor, read_all, record_failure
from ..state.taskstate import match_names

#: the longest back-off between two attempts, seconds
MAX_DELAY = 600.0
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def retry_spec(raw: Any) -> list[tuple[str | None, int]]:
    """One ``--retries`` value: ``2``, ``fetch=5`` or ``2,fetch=5,load=1`` -> ``[(None, 2),
    ("fetch", 5), ...]`` (None: every task)."""
    if isinstance(raw, bool):
        raise OptionValueError(f"expected N or NAME=N, got {raw!r}")
    if isinstance(raw, int):
        raw = str(raw)
    out: list[tuple[str | None, int]] = []
    for item in (i.strip() for i in str(raw).split(",")):
        name, eq, n = item.rpartition("=") if "=" in item else ("", "", item)
        try:
            count = int(n)
        except ValueError:
            count = -1
        if count < 0 or (eq and not name.strip()):
            raise OptionValueError(f"expected N or NAME=N (N a whole number >= 0, e.g. 2 or "
                                   f"fetch=5), got {item!r}")
        out.append((name.strip() if eq else None, count))
    return out


def exception_names(raw: Any) -> list[str]:
    """One ``--retry-on`` value: ``OSError,TimeoutError`` -> its class names (a name with dots
    is matched against the class's module and name, e.g. ``requests.exceptions.Timeout``)."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    names = [str(i).strip() for i in items if str(i).strip()]
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad or not names:
        raise OptionValueError(f"expected exception class names separated by commas (e.g. "
                               f"OSError,TimeoutError), got {raw!r}")
    return names


@dataclass(frozen=True)
class RetryPolicy:
    """What ``--retries``/``--retry-on``/``--retry-delay`` say, before task names are known."""

    specs: tuple[tuple[str | None, int], ...] = ()
    on: tuple[str, ...] = ()  # exception class names; empty: any Exception
    delay: DelayFor = DelayFor(2.0, MAX_DELAY)

    @classmethod
    def from_args(cls, args: Any) -> RetryPolicy:
        """The policy of ``jug execute``'s parsed options (none given: no retries)."""
        specs = [s for value in (getattr(args, "retries", None) or []) for s in value]
        on = [n for value in (getattr(args, "retry_on", None) or []) for n in value]
        first = float(getattr(args, "retry_delay", None) or 0.0)
        return cls(tuple(specs), tuple(on), DelayFor(first, MAX_DELAY))

    @property
    def active(self) -> bool:
        """True if some task may be retried."""
        return any(n > 0 for _, n in self.specs)

    def counts(self, names: Iterable[str]) -> dict[str, int]:
        """``{task name: retries}`` for the names that get any (matched among all ``names``,
        so ``train`` means ``wf.train`` and not ``wf.trainer`` as everywhere else)."""
        names = list(dict.fromkeys(names))
        out: dict[str, int] = {}
        for pattern, n in self.specs:
            for name in (names if pattern is None else match_names(names, pattern)):
                out[name] = n
        return {k: v for k, v in out.items() if v > 0}

    def retryable(self, e: BaseException) -> bool:
        """True if ``e`` is of a class ``--retry-on`` names (any Exception when none)."""
        if not isinstance(e, Exception):
            return False
        if not self.on:
            return True
        return any(_named(cls, self.on) for cls in type(e).__mro__)


def _named(cls: type, names: Sequence[str]) -> bool:
    """True if ``cls`` is called one of ``names`` (bare or with its module)."""
    return cls.__name__ in names or f"{cls.__module__}.{cls.__qualname__}" in names


@dataclass(frozen=True)
class Failure:
    """What a worker does about one failed attempt: retry it (after ``attempts.retry_after``)
    or mark the task failed; ``attempts`` is None when the task gets no retries at all."""

    retry: bool
    attempts: Attempts | None = None
    allowed: int = 1  # attempts the task gets in all


class Retrier:
    """One worker's side of the retries: the tasks it must not start before their back-off
    ends (its own failures and, read from the store, other workers'), and the attempt counts
    it writes under each task's lock."""

    def __init__(self, policy: RetryPolicy, store: Store) -> None:
        self.policy = policy
        self.store = store
        self.retries: dict[str, int] = {}  # task name -> retries it gets (only those > 0)
        self.not_before: dict[str, float] = {}  # task hash -> earliest next attempt (epoch)

    def know(self, names: Iterable[str]) -> None:
        """Resolve the per-name counts against every task name of the jugfile."""
        self.retries = self.policy.counts(names) if self.policy.active else {}

    def refresh(self) -> None:
        """Read the back-offs other workers recorded (one bulk read; only with retries)."""
        if not self.retries:
            return
        now = time.time()
        for key, a in read_all(self.store).items():
            if a.retry_after > now and a.task in self.retries:
                self.not_before[key] = max(a.retry_after, self.not_before.get(key, 0.0))

    def backing_off(self, key: str) -> bool:
        """True if ``key`` waits for its back-off to end."""
        until = self.not_before.get(key)
        if until is None:
            return False
        if until <= time.time():
            del self.not_before[key]
            return False
        return True

    def seconds_left(self) -> float | None:
        """Seconds until the first back-off ends (None: none pending)."""
        if not self.not_before:
            return None
        return max(0.0, min(self.not_before.values()) - time.time())

    def on_failure(self, name: str, key: str, e: BaseException, by: str) -> Failure:
        """Count the failed attempt (the caller holds the lock of ``key``) and decide."""
        n = self.retries.get(name, 0)
        if n <= 0 or not self.policy.retryable(e):
            return Failure(False)
        import traceback  # start-up time (3.6 ms): only when a task failed

        line = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
        a = record_failure(self.store, key, name, repr(e)[:500], (line or ["?"])[-1][:200],
                           self.policy.delay, by)
        if a.failed > n:
            return Failure(False, a, n + 1)
        self.not_before[key] = a.retry_after
        return Failure(True, a, n + 1)
