"""Every command-line option, its default, and where its value comes from.

Precedence, lowest to highest: built-in default < user config (``~/.config/jug/jugrc``) <
project config (``jugrc`` or ``.jugrc`` found from the jugfile's folder upwards) <
environment (``JUG_<OPTION>``, e.g. ``JUG_JUGDIR``, ``JUG_KEEP_GOING``) < command line.

Config files are YAML mappings (``jugdir: /scratch/me/x.jugdata``, or per subcommand
``execute: {keep-going: true}``); Jug's INI form (``[main]``/``[execute]`` sections) is read too.
Subcommands declare their options as :class:`Option` lists; this module turns them into
argparse arguments and resolves their values once.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .trust import read_trusted, search_upwards, trusted

USER_CONFIG = Path("~/.config/jug/jugrc")
PROJECT_CONFIG_NAMES = ("jugrc", ".jugrc", "jugrc.yaml")
_UNSET = object()


@dataclass
class Option:
    """One option: ``--name`` on the command line, ``name`` in config files, ``JUG_NAME`` in env."""

    name: str
    default: Any = None
    help: str = ""
    type: Callable[[str], Any] | None = None  # None: str; bool options are flags
    flag: bool = False  # a boolean switch (--name / --no-name)
    negatable: bool = True  # False: a one-shot action flag, only --name (no --no-name)
    short: str | None = None
    choices: Sequence[Any] | None = None
    multiple: bool = False  # may be repeated; collects a list
    metavar: str | None = None
    aliases: Sequence[str] = field(default_factory=tuple)

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_var(self) -> str:
        return "JUG_" + self.dest.upper()

    def convert(self, raw: Any) -> Any:
        """Convert a value read from a config file or environment to this option's type."""
        if raw is None:
            return None
        if self.flag:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"option {self.name}: expected true/false, got {raw!r}")
        if self.multiple:
            items = raw if isinstance(raw, list) else [raw]
            return [self.type(x) if self.type else x for x in items]
        return self.type(raw) if self.type and not isinstance(raw, bool) else raw


# Options every subcommand that loads a jugfile accepts.
COMMON = [
    Option("jugdir", None, "Where results live: a path, dict_store, or redis://host:port/db "
           "(default: <jugfile>.jugdata next to the jugfile)"),
    Option("verbose", "quiet", "Verbosity", choices=("quiet", "info", "debug")),
]


class OptionValueError(argparse.ArgumentTypeError, ValueError):
    """A bad option value: argparse shows its message; config and environment values too."""


def _finite(text: Any, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise OptionValueError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise OptionValueError(f"expected {what}, got {text!r}")
    return value


def seconds(text: Any) -> float:
    """A finite, non-negative number of seconds (``--wait-cycle-time``, ``--heartbeat``)."""
    value = _finite(text, "a number of seconds >= 0")
    if value < 0:
        raise OptionValueError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def finite_seconds(text: Any) -> float:
    """A finite number of seconds, negative allowed where it means 'off' (``--stale-after``)."""
    return _finite(text, "a number of seconds")


def count(text: Any) -> int:
    """A whole number >= 0 (``--nr-wait-cycles``)."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise OptionValueError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise OptionValueError(f"expected a whole number >= 0, got {text!r}")
    return value


def port(text: Any) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise OptionValueError(f"expected a TCP port number (0-65535), got {text!r}") from None
    if not 0 <= value <= 65535:
        raise OptionValueError(f"expected a TCP port number (0-65535), got {text!r}")
    return value


def _parse_ini(path: Path, text: str) -> dict:
    import configparser  # only for Jug's INI form: not on every start-up

    cp = configparser.ConfigParser()
    try:
        cp.read_string(text, source=str(path))
    except configparser.Error as e:
        line = getattr(e, "lineno", None)
        first = str(e).splitlines()[0]
        errors = getattr(e, "errors", None)  # ParsingError: [(line number, text), ...]
        if errors:
            line, text = errors[0]
            first = "cannot parse " + text.strip().replace("\\n", "")
        where = f"{path}, line {line}" if line else str(path)
        raise ValueError(f"{where}: syntax error in config file: {first}") from None
    return {sec: dict(cp[sec]) for sec in cp.sections()}


def _parse_yaml(path: Path, text: str) -> Any:
    import yaml  # start-up time: PyYAML loads only for YAML files

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}: syntax error in config file: {problem}") from None


def _read_config_file(path: Path) -> dict:
    """Read a YAML or INI config file into ``{section: {option: value}}`` (section 'main' = all)."""
    try:
        text = read_trusted(path, "config file")  # checked again as it is read: see jug.config.trust
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read config file: {e}") from None
    if text is None:
        return {"main": {}}
    stripped = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if stripped and stripped[0].startswith("[") and stripped[0].endswith("]"):
        return _parse_ini(path, text)
    data = _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option: value")
    out: dict = {"main": {}}
    for k, v in data.items():
        if isinstance(v, dict):
            out.setdefault(k, {}).update(v)
        else:
            out["main"][k] = v
    return out


def layer_files(user_file: Path, env_var: str, project_names: Sequence[str], what: str,
                jugfile: str | None) -> list[Path]:
    """The files of one kind that apply, lowest precedence first: the user's (``env_var``
    overrides where), then the nearest trusted project file from the jugfile's folder up.

    The one search of ``jugrc`` and of ``jug-submit.yaml`` profiles (jug.config.trust decides which
    files count)."""
    files = []
    user = Path(os.environ.get(env_var, str(user_file))).expanduser()
    if user.is_file() and trusted(user, what):
        files.append(user)
    start = Path(jugfile).parent if jugfile else Path.cwd()
    project = search_upwards(start if str(start) else Path.cwd(), project_names, what)
    if project and all(project.resolve() != f.resolve() for f in files):
        files.append(project)
    return files


def config_layers(jugfile: str | None) -> list[tuple[str, dict]]:
    """The config-file layers in precedence order (lowest first), each with its source."""
    return [(str(f), _read_config_file(f))
            for f in layer_files(USER_CONFIG, "JUG_CONFIG", PROJECT_CONFIG_NAMES, "config file",
                                 jugfile)]


def all_options(module: Any) -> list[Option]:
    """Common options (for subcommands that load a jugfile) plus the subcommand's own."""
    common = COMMON if getattr(module, "TAKES_JUGFILE", True) else []
    return [*common, *getattr(module, "OPTIONS", [])]


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Add ``options`` to ``parser``; defaults are left unset so that layering can fill them."""
    for opt in options:
        names = [f"--{opt.name}", *(f"--{a}" for a in opt.aliases)]
        if opt.short:
            names.insert(0, opt.short)
        default_txt = f" (default: {opt.default})" if opt.default not in (None, []) else ""
        # append actions cannot extend the unset marker: repeatable options start at None
        kw: dict[str, Any] = {"dest": opt.dest, "default": None if opt.multiple else _UNSET,
                              "help": opt.help + default_txt}
        if opt.flag:
            kw["action"] = argparse.BooleanOptionalAction if opt.negatable else "store_true"
        elif opt.multiple:
            kw["action"] = "append"
        if opt.type and not opt.flag:
            kw["type"] = opt.type
        if opt.choices:
            kw["choices"] = opt.choices
        if opt.metavar:
            kw["metavar"] = opt.metavar
        parser.add_argument(*names, **kw)


def resolve(args: argparse.Namespace, options: Sequence[Option], subcommand: str,
            jugfile: str | None, every: EveryKey,
            environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Fill every unset option in ``args`` from env, project, user config, then default
    (``every``: the option keys of every command, for the warning about unknown keys).

    Returns ``{option name: source}`` (for ``--help``-style reporting and debugging).
    """
    env = os.environ if environ is None else environ
    layers = config_layers(jugfile)
    warn_unknown_keys(layers, options, subcommand, every)
    sources: dict[str, str] = {}
    for opt in options:
        current = getattr(args, opt.dest, _UNSET)
        if opt.multiple and current is None:
            current = _UNSET  # a repeatable option not given on the command line
        if current is not _UNSET:
            sources[opt.name] = "command line"
            continue
        value: Any = _UNSET
        source = "default"
        if opt.env_var in env:
            source = f"environment {opt.env_var}"
            value = _convert(opt, env[opt.env_var], source)
        else:
            for path, data in reversed(layers):
                for section in (subcommand, "main"):
                    sec = data.get(section, {})
                    for key in (opt.name, opt.dest):
                        if key in sec:
                            value, source = _convert(opt, sec[key], path), path
                            break
                    if value is not _UNSET:
                        break
                if value is not _UNSET:
                    break
        if value is _UNSET:
            value = list(opt.default) if isinstance(opt.default, list) else opt.default
        setattr(args, opt.dest, value)
        sources[opt.name] = source
    return sources


def _convert(opt: Option, raw: Any, source: str) -> Any:
    """:meth:`Option.convert`, with a bad value's error naming the option and where it is set."""
    try:
        return opt.convert(raw)
    except (ValueError, TypeError) as e:
        text = str(e)
        prefix = f"option {opt.name}: "
        raise ValueError(f"{source}: {text if text.startswith(prefix) else prefix + text}") from None


#: ``{command: the keys its options take in a config file}`` for every command; the command
#: layer, which owns the registry of commands, passes it in (imported only on a miss)
EveryKey = Callable[[], Mapping[str, set[str]]]


def option_keys(options: Sequence[Option]) -> set[str]:
    """The keys ``options`` answer to in a config file (name and dest)."""
    return {k for opt in options for k in (opt.name, opt.dest)}


def warn_unknown_keys(layers: list[tuple[str, dict]], options: Sequence[Option],
                      subcommand: str, every_key: EveryKey) -> list[str]:
    """Warn about config keys no subcommand knows (a ``jugdirr:`` typo), with a suggestion.

    Keys of the ``main`` section and of this subcommand's section are checked; returns the
    warnings printed.
    """
    mine = option_keys(options)
    misses = [(path, section, key) for path, data in layers for section, sec in data.items()
              if section in ("main", subcommand) for key in sec if key not in mine]
    sections = [(path, section) for path, data in layers for section in data
                if section not in ("main", subcommand)]
    if not misses and not sections:
        return []
    every = every_key()
    anywhere = set().union(*every.values())
    warnings = [f"{path}: unknown section '{section}' (sections are subcommand names: "
                f"{', '.join(every)})" for path, section in sections if section not in every]
    for path, section, key in misses:
        if section == "main" and key in anywhere:
            continue  # an option of another subcommand
        pool = sorted(anywhere if section == "main" else mine)
        import difflib  # start-up time: only to suggest a name for a typo

        close = difflib.get_close_matches(str(key), pool, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        where = "" if section == "main" else f" in section '{section}'"
        warnings.append(f"{path}: unknown option '{key}'{where}, ignored{hint}")
    for w in warnings:
        print(f"jug: warning: {w}", file=sys.stderr)
    return warnings
