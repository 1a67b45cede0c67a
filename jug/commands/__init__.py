"""The command layer: what ``jug <command>`` parses, checks and prints, and its registry.

The work itself is done by the layers below (engine, state, status, hpc); :mod:`.cli` is the
entry point.  Each subcommand is a module here (imported only when used, to keep start-up
fast) that defines ``HELP`` (one line), ``OPTIONS`` (a list of :class:`jug.config.options.Option`, in
addition to the common ones), ``TAKES_JUGFILE`` (bool) and ``run(args) -> int``; optionally
``add_arguments(parser)`` for positional extras.
"""

from __future__ import annotations

import importlib

from ..config.options import COMMON, option_keys

SUBCOMMANDS: dict[str, str] = {
    "execute": "jug.commands.execute",
    "status": "jug.commands.status",
    "check": "jug.commands.check",
    "sleep-until": "jug.commands.sleep_until",
    "invalidate": "jug.commands.invalidate",
    "cleanup": "jug.commands.cleanup",
    "shell": "jug.commands.shell",
    "webstatus": "jug.commands.webstatus",
    "graph": "jug.commands.graph",
    "submit": "jug.commands.submit",
}


def every_option_key() -> dict[str, set[str]]:
    """``{command: its option keys}`` for every command (imports them all: called only when
    a config file holds a key the running command does not know)."""

    out = {}
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        out[name] = option_keys([*COMMON, *getattr(module, "OPTIONS", [])])
    return out
