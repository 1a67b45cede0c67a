"""Why a batch job ended, as the scheduler's accounting tells it: the shared vocabulary.

Each adapter maps its own words onto :class:`Cause` (SLURM ``sacct`` states, SGE ``qacct``
codes, PBS ``qstat -x`` exit statuses): its ``fate_commands`` say what to run (one bulk query
for many jobs) and its ``parse_fates`` read the output into ``{queue id: Fate}``.  Only the
adapters know the formats; everything above reads :class:`Fate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Cause(str, Enum):
    """Why a job ended."""

    OUT_OF_MEMORY = "out of memory"
    WALLTIME = "walltime"
    NODE_FAILURE = "node failure"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    FAILED = "failed"  # a non-zero exit or a signal the scheduler does not explain
    COMPLETED = "completed"

    @property
    def could_be_the_task(self) -> bool:
        """False for deaths no task causes: preemption, node failure, cancellation."""
        return self not in (Cause.PREEMPTED, Cause.NODE_FAILURE, Cause.CANCELLED)


@dataclass(frozen=True)
class Fate:
    """How one job (array element) ended: the cause, the scheduler's own words, and the
    largest memory the accounting saw (bytes; None: not recorded)."""

    cause: Cause
    detail: str
    max_memory: int | None = None

    def describe(self) -> str:
        """``out of memory at ~3.9 GiB``, ``node failure``, ``walltime``..."""
        if self.cause is Cause.OUT_OF_MEMORY and self.max_memory:
            return f"out of memory at ~{_gib(self.max_memory)}"
        return self.cause.value

    def as_json(self) -> dict:
        """The form stored in crash records and shown by ``jug status --json``."""
        return {"cause": self.cause.value, "detail": self.detail,
                "max_memory": self.max_memory, "text": self.describe()}

    @classmethod
    def from_json(cls, doc: dict) -> Fate | None:
        """The inverse of :meth:`as_json` (None for anything else)."""
        try:
            return cls(Cause(doc["cause"]), str(doc.get("detail", "")), doc.get("max_memory"))
        except (KeyError, ValueError, TypeError):
            return None


def _gib(n: float) -> str:
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.1f} GiB"
    return f"{n / 1024 ** 2:.0f} MiB"


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4,
          "P": 1024 ** 5}


def parse_size(text: str, bare: int = 1) -> int | None:
    """Bytes of ``3906252K``, ``1.953G``, ``512mb``, ``4096kb`` (a bare number counts
    ``bare`` bytes); None for an empty or malformed field."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTPkmgtp]?)[Bb]?\s*", text or "")
    if not m:
        return None
    unit = m.group(2).upper()
    return int(float(m.group(1)) * (_UNITS[unit] if unit else bare))
