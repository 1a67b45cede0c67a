"""``python -m jug`` is the ``jug`` command."""

import sys

from .cli import main

sys.exit(main())
