"""``python -m jug.commands.sge_entry execute ...``: ``jug execute`` for SGE job scripts.

SGE announces the soft walltime (``-l s_rt``) with SIGUSR1 to the whole process group; by
default that kills Python on the spot, lock still held.  This entry point turns SIGUSR1 (and
SIGUSR2, sent by ``qsub -notify``) into SIGTERM, which ``jug execute`` handles by releasing the
running task's lock and exiting, so the h_rt kill that follows finds nothing to clean up.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _as_sigterm(_signum: int, _frame: Any) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    """Install the signal translation, then run the ``jug`` command line."""
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, _as_sigterm)
    # start-up time: the signals are turned before anything else loads
    from .cli import main as jug_main

    return jug_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
