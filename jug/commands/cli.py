"""The ``jug`` command: parse the subcommand, layer its options, run it."""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from typing import Sequence

from .. import task as _task
from .._version import __version__
from ..backends import StoreError
from ..config import options as _options
from ..task import TaskError
from . import SUBCOMMANDS, every_option_key


def _load(name: str):
    return importlib.import_module(SUBCOMMANDS[name])


def _usage() -> str:
    lines = ["usage: jug <subcommand> [options] [jugfile]", "", "subcommands:"]
    for name in SUBCOMMANDS:
        try:
            helptext = _load(name).HELP
        except ImportError:
            continue
        lines.append(f"  {name:<14}{helptext}")
    lines.append("")
    lines.append("Run 'jug <subcommand> --help' for the options of a subcommand.")
    return "\n".join(lines)


def build_parser(name: str, module) -> argparse.ArgumentParser:
    """The argparse parser of subcommand ``name`` (common options plus its own)."""
    parser = argparse.ArgumentParser(prog=f"jug {name}", description=module.HELP)
    if getattr(module, "TAKES_JUGFILE", True):
        parser.add_argument("jugfile", nargs="?", default="jugfile.py",
                            help="the jugfile (default: jugfile.py)")
        parser.add_argument("jugfile_args", nargs="*", metavar="-- ARGS",
                            help="arguments for the jugfile (its sys.argv[1:]); put them after --")
    _options.add_options(parser, _options.all_options(module))
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    return parser


def version_line() -> str:
    """``jug VERSION from PATH (python X.Y)``: which jug runs (PyPI's Jug is another project)."""
    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # jug/, not jug/commands/
    return f"jug {__version__} from {where} (python {sys.version_info[0]}.{sys.version_info[1]})"


def parse(argv: Sequence[str]) -> tuple[object, argparse.Namespace]:
    """Parse ``argv`` (without the program name) into (subcommand module, resolved args)."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        raise SystemExit(0)
    if argv[0] == "--version":
        print(version_line())
        raise SystemExit(0)
    name = argv[0]
    if name not in SUBCOMMANDS:
        import difflib  # start-up time: only to suggest a name for a typo

        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1, cutoff=0.5)
        hint = f" Did you mean 'jug {close[0]}'?" if close else ""
        print(f"jug: unknown subcommand '{name}'.{hint}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    module = _load(name)
    parser = build_parser(name, module)
    rest = list(argv[1:])
    extra: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, extra = rest[:cut], rest[cut + 1:]
    args = parser.parse_intermixed_args(rest)
    if hasattr(args, "jugfile_args"):
        args.jugfile_args = [*args.jugfile_args, *extra]
    args.subcommand = name
    try:
        args.option_sources = _options.resolve(
            args, _options.all_options(module), name, getattr(args, "jugfile", None),
            every_option_key)
    except ValueError as e:
        parser.error(str(e))
    return module, args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jug`` console script.

    ``jug ... | head`` closes stdout early: that is the reader's choice, not an error, so every
    command then exits quietly with 141 (128 + SIGPIPE, what the shell reports for a program
    ended by a closed pipe) instead of printing a BrokenPipeError traceback.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # later writes (and the flush at interpreter exit) must not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None) -> int:
    """Parse and run one subcommand; stdout is flushed here so a closed pipe shows up here."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _task.running[0] = True  # jug.is_jug_running(): the command line runs, not plain Python
    try:
        module, args = parse(argv)
        try:
            return int(module.run(args) or 0)
        except KeyboardInterrupt:
            print("jug: interrupted", file=sys.stderr)
            return 130
        except TaskError as e:  # a user's mistake in the jugfile found late (unhashable argument...)
            print(f"jug: {e}", file=sys.stderr)
            return 1
        except StoreError as e:  # disk full, read-only jugdir, server gone: one line, no traceback
            print(f"jug: {e}", file=sys.stderr)
            return 2
    finally:
        sys.stdout.flush()


def _stdout_closed() -> bool:
    """True if stdout is a pipe whose reader has gone (poll reports POLLERR on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _fd, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


if __name__ == "__main__":
    sys.exit(main())
