"""``python -m jug`` is the ``jug`` command."""

import sys

from .commands.cli import main

sys.exit(main())
