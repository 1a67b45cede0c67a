"""Kept for one release: ``python -m jug.hpc.worker`` is what SGE job scripts rendered before
the SGE entry moved to :mod:`jug.commands.sge_entry` run; queued ones still call it."""

import sys

from ..commands.sge_entry import main

if __name__ == "__main__":
    sys.exit(main())
