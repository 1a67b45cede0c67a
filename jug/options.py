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
import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

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


def _read_config_file(path: Path) -> dict:
    """Read a YAML or INI config file into ``{section: {option: value}}`` (section 'main' = all)."""
    text = path.read_text()
    stripped = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if stripped and stripped[0].startswith("[") and stripped[0].endswith("]"):
        cp = configparser.ConfigParser()
        cp.read_string(text)
        return {sec: dict(cp[sec]) for sec in cp.sections()}
    import yaml

    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option: value")
    out: dict = {"main": {}}
    for k, v in data.items():
        if isinstance(v, dict):
            out.setdefault(k, {}).update(v)
        else:
            out["main"][k] = v
    return out


def find_project_config(start: Path) -> Path | None:
    """The nearest project config file from ``start`` upwards, or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        for name in PROJECT_CONFIG_NAMES:
            p = folder / name
            if p.is_file():
                return p
    return None


def config_layers(jugfile: str | None) -> list[tuple[str, dict]]:
    """The config-file layers in precedence order (lowest first), each with its source."""
    layers = []
    user = Path(os.environ.get("JUG_CONFIG", str(USER_CONFIG))).expanduser()
    if user.is_file():
        layers.append((str(user), _read_config_file(user)))
    start = Path(jugfile).parent if jugfile else Path.cwd()
    project = find_project_config(start if str(start) else Path.cwd())
    if project and (not layers or project.resolve() != user.resolve()):
        layers.append((str(project), _read_config_file(project)))
    return layers


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
            jugfile: str | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Fill every unset option in ``args`` from env, project, user config, then default.

    Returns ``{option name: source}`` (for ``--help``-style reporting and debugging).
    """
    env = os.environ if environ is None else environ
    layers = config_layers(jugfile)
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
            value, source = opt.convert(env[opt.env_var]), f"environment {opt.env_var}"
        else:
            for path, data in reversed(layers):
                for section in (subcommand, "main"):
                    sec = data.get(section, {})
                    for key in (opt.name, opt.dest):
                        if key in sec:
                            value, source = opt.convert(sec[key]), path
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
