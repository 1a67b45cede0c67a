"""The registry of ``jug`` subcommands.

Each subcommand is a module here (imported only when used, to keep start-up fast) that
defines ``HELP`` (one line), ``OPTIONS`` (a list of :class:`jug.config.options.Option`, in addition
to the common ones), ``TAKES_JUGFILE`` (bool) and ``run(args) -> int``; optionally
``add_arguments(parser)`` for positional extras.
"""

from __future__ import annotations

SUBCOMMANDS: dict[str, str] = {
    "execute": "jug.commands.execute",
    "status": "jug.subcommands.status",
    "check": "jug.subcommands.check",
    "sleep-until": "jug.subcommands.sleep_until",
    "invalidate": "jug.subcommands.invalidate",
    "cleanup": "jug.subcommands.cleanup",
    "shell": "jug.subcommands.shell",
    "webstatus": "jug.subcommands.webstatus",
    "graph": "jug.subcommands.graph",
    "submit": "jug.subcommands.submit",
}


def every_option_key() -> dict[str, set[str]]:
    """``{command: its option keys}`` for every command (imports them all: called only when
    a config file holds a key the running command does not know)."""
    import importlib

    from ..config.options import COMMON, option_keys

    out = {}
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        out[name] = option_keys([*COMMON, *getattr(module, "OPTIONS", [])])
    return out
