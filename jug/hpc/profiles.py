"""Site profiles for ``jug submit``: YAML files of named option sets, merged once.

Precedence, lowest first: built-in defaults < user file (``~/.config/jug/submit.yaml``, or
``$JUG_SUBMIT_CONFIG``) < project file (``jug-submit.yaml`` or ``.jug-submit.yaml`` from the
jugfile's folder upwards) < jugrc / ``JUG_*`` environment < command line.  A file looks like::

    default-profile: mycluster     # used when --profile is not given
    walltime: "02:00:00"           # top-level options apply to every profile of this file
    mycluster:                     # a named profile
      scheduler: slurm
      partition: short
      prologue: ["module load python/3.11"]

Within one file the top-level options come first, then the selected profile.  The result is
one dict (option name with underscores -> value) plus where each value came from.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Mapping

from ..config.options import layer_files
from ..config.trust import read_trusted
from .settings import ALIASES, DEFAULTS, LIST_KEYS

USER_FILE = Path("~/.config/jug/submit.yaml")
PROJECT_NAMES = ("jug-submit.yaml", ".jug-submit.yaml")

#: every setting ``jug submit`` knows, with its built-in default (declared in jug.hpc.settings)
BUILTIN: dict[str, Any] = DEFAULTS
_SELECT_KEYS = ("default_profile",)
#: settings that are mappings, and what of
_MAPPING_KEYS = {"env": "NAME: value", "pools": "pool name -> settings, e.g. gpu: {tasks: [train]}"}


class ProfileError(ValueError):
    """A profile file is malformed, or names an unknown option or profile."""


def normalise_key(key: str) -> str:
    """``cpus-per-task`` -> ``cpus_per_task``; aliases (``partition``) -> canonical names."""
    k = str(key).strip().replace("-", "_").lower()
    return ALIASES.get(k, k)


def check_keys(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Normalise the keys of one option mapping; unknown keys are errors with a suggestion."""
    out = {}
    for key, value in data.items():
        k = normalise_key(key)
        if k not in BUILTIN:
            close = difflib.get_close_matches(k, list(BUILTIN), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0].replace('_', '-')}'?)" if close else ""
            raise ProfileError(f"{where}: unknown option '{key}'{hint}")
        if k in LIST_KEYS and isinstance(value, str):
            value = [value]
        if k in _MAPPING_KEYS and not isinstance(value, dict):
            raise ProfileError(f"{where}: '{key}' must be a mapping of {_MAPPING_KEYS[k]}")
        out[k] = value
    return out


def read_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str | None]:
    """Read one profile file: (top-level options, {profile: options}, default profile)."""
    import yaml  # start-up time: PyYAML loads only for YAML files

    try:
        text = read_trusted(path, "submit profile")  # checked as it is read: jug.config.trust
        data = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as e:
        raise ProfileError(f"{path}: not valid YAML: {e}")
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: cannot read the profile file: {e}")
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of options and named profiles")
    base: dict[str, Any] = {}
    profiles: dict[str, dict[str, Any]] = {}
    default = None
    for key, value in data.items():
        k = normalise_key(key)
        if k in _SELECT_KEYS:
            default = str(value)
        elif k in BUILTIN:
            base.update(check_keys({key: value}, str(path)))
        elif isinstance(value, dict):
            profiles[str(key)] = check_keys(value, f"{path}, profile '{key}'")
        else:
            base.update(check_keys({key: value}, str(path)))  # raises: unknown option
    return base, profiles, default


def profile_files(jugfile: str | None) -> list[Path]:
    """The profile files that apply, lowest precedence first (user, then project)."""
    return layer_files(USER_FILE, "JUG_SUBMIT_CONFIG", PROJECT_NAMES, "submit profile", jugfile)


def merge(jugfile: str | None, profile: str | None, overrides: Mapping[str, Any],
          override_sources: Mapping[str, str] | None = None,
          files: list[Path] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge built-in < files (top level, then the profile) < ``overrides``, once.

    Returns (settings, {setting: source}).  ``overrides`` are values given on the command
    line, in a jugrc or in the environment (``override_sources`` says which).
    """
    settings = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in BUILTIN.items()}
    sources = dict.fromkeys(BUILTIN, "built-in")
    files = profile_files(jugfile) if files is None else files
    read = [(f, *read_file(f)) for f in files]
    if profile is None:
        for _f, _base, _profiles, default in reversed(read):
            if default:
                profile = default
                break
    found = False
    for f, base, profiles, _default in read:
        layers = [(base, str(f))]
        if profile and profile in profiles:
            layers.append((profiles[profile], f"{f} [{profile}]"))
            found = True
        for layer, source in layers:
            for k, v in layer.items():
                settings[k] = v
                sources[k] = source
    if profile and not found:
        names = sorted({p for _f, _b, profiles, _d in read for p in profiles})
        where = ", ".join(str(f) for f in files) or f"no profile file (looked for {USER_FILE} " \
            f"and {PROJECT_NAMES[0]} from the jugfile's folder upwards)"
        known = f"; known profiles: {', '.join(names)}" if names else ""
        raise ProfileError(f"profile '{profile}' not found in {where}{known}")
    for k, v in overrides.items():
        k = normalise_key(k)
        if k in LIST_KEYS and (override_sources or {}).get(k) == "command line":
            settings[k] = [*settings.get(k, []), *v]  # --directive adds to the profile's
        else:
            settings[k] = v
        sources[k] = (override_sources or {}).get(k, "command line")
    settings["profile"] = profile
    sources["profile"] = "selected" if profile else "none"
    return settings, sources
