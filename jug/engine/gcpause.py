"""Building a large task graph without the cyclic garbage collector walking it over and over.

Loading a jugfile of N tasks allocates millions of objects that all stay alive; each time the
allocation count passes a threshold the collector traverses the objects allocated so far, and
status or execute on 200,000 tasks spent about a quarter of its time there (measured with
``benchmarks/run.py --only status``).  The graph holds no garbage worth collecting, so the
collector is paused while it is built, and what was built is frozen (moved out of the
collector's reach) so later collections in a long-running worker do not walk it either.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def building_graph() -> Iterator[None]:
    """Pause the cyclic GC for the block; freeze the survivors afterwards (if it was on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
