"""Option layering for every option of every subcommand, and the bad-input paths of the CLI.

Precedence, lowest first: default < user config (~/.config/jug/jugrc, or $JUG_CONFIG) <
project config (jugrc found from the jugfile's folder upwards) < JUG_<OPTION> < command line.
The exhaustive check drives :func:`jug.commands.cli.parse` in-process on real config files; the
end-to-end checks run ``python -m jug`` and observe an option's effect.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import CHAIN, jug_env, ok, run_jug, write_jugfile

from jug.backends import select_store
from jug.commands import SUBCOMMANDS, cli
from jug.config.options import Option, all_options

LAYERS = ("user", "project", "env", "cli")


def _cases() -> list[tuple[str, Option]]:
    out = []
    for name, mod in SUBCOMMANDS.items():
        module = importlib.import_module(mod)
        out.extend((name, opt) for opt in all_options(module))
    return out


CASES = _cases()


#: option name -> layer -> the text a custom converter parsed (a converter may return a list)
TEXTS: dict[str, dict[str, str]] = {}


def _values(opt: Option) -> dict[str, Any]:
    """A value per layer, each different from the layer below it and from the default."""
    TEXTS.pop(opt.name, None)  # options of other commands may share the name
    if opt.flag:  # a one-shot action flag has no --no- form: the command line turns it on
        order = (True, False, True, False) if opt.negatable else (False, True, False, True)
        return dict(zip(LAYERS, order))
    if opt.choices:
        others = [c for c in opt.choices if c != opt.default]
        second = others[1] if len(others) > 1 else opt.default
        return dict(zip(LAYERS, (others[0], second, others[0], second)))
    if opt.type is int:
        vals: tuple = (11, 12, 13, 14)
    elif opt.type is float:
        vals = (1.5, 2.5, 3.5, 4.5)
    elif opt.type not in (None, str):  # a custom converter: try numbers, then words
        for raw in (("11", "12", "13", "14"), ("user-val", "project-val", "env-val", "cli-val"),
                    ("UserVal", "ProjectVal", "EnvVal", "CliVal")):
            try:
                vals = tuple(opt.type(r) for r in raw)
                TEXTS[opt.name] = dict(zip(LAYERS, raw))
                break
            except (TypeError, ValueError):
                continue
        else:
            raise AssertionError(f"no sample values for option {opt.name}: extend _values()")
    else:
        vals = ("user-val", "project-val", "env-val", "cli-val")
    if opt.multiple:
        return {k: [v] for k, v in zip(LAYERS, vals)}
    return dict(zip(LAYERS, vals))


def _env_text(v: Any, opt: Option | None = None, layer: str = "") -> str:
    if opt is not None and opt.name in TEXTS:
        return TEXTS[opt.name][layer]
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v[0] if isinstance(v, list) else v)


def _raw(opt: Option, v: Any, layer: str) -> Any:
    """How a value is written in a config file (custom types as the text they parse)."""
    if opt.type in (None, str, int, float) or isinstance(v, bool):
        return v
    return [_env_text(v, opt, layer)] if opt.multiple else _env_text(v, opt, layer)


def _cli_args(opt: Option, v: Any) -> list[str]:
    if opt.flag:
        return [f"--{opt.name}" if v else f"--no-{opt.name}"]
    return [f"--{opt.name}", _env_text(v, opt, "cli")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No JUG_* variables, HOME in tmp_path (so ~/.config/jug/jugrc is ours); returns HOME."""
    for k in list(os.environ):
        if k.startswith("JUG_"):
            monkeypatch.delenv(k)
    home = tmp_path / "home"
    (home / ".config" / "jug").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize("sub,opt", CASES, ids=[f"{s}--{o.name}" for s, o in CASES])
def test_every_option_follows_the_precedence(sub: str, opt: Option, tmp_path: Path,
                                             clean_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    jf = write_jugfile(project / "sub", "x = 1\n")  # the project jugrc is one folder up
    user_rc = clean_env / ".config" / "jug" / "jugrc"
    vals = _values(opt)
    argv = [sub, str(jf)]

    def value(extra: list[str] = ()) -> Any:  # type: ignore[assignment]
        _, args = cli.parse([*argv, *extra])
        return getattr(args, opt.dest), args.option_sources[opt.name]

    got, src = value()
    assert got == (list(opt.default) if isinstance(opt.default, list) else opt.default)
    assert src == "default"
    # the user file uses the per-subcommand section, the project file the top level
    user_rc.write_text(yaml.safe_dump({sub: {opt.name: _raw(opt, vals["user"], "user")}}))
    assert value() == (vals["user"], str(user_rc))
    (project / "jugrc").write_text(yaml.safe_dump({opt.name: _raw(opt, vals["project"], "project")}))
    assert value() == (vals["project"], str(project / "jugrc"))
    monkeypatch.setenv(opt.env_var, _env_text(vals["env"], opt, "env"))
    assert value() == (vals["env"], f"environment {opt.env_var}")
    assert value(_cli_args(opt, vals["cli"])) == (vals["cli"], "command line")


def test_ini_config_and_subcommand_section_beats_main(tmp_path: Path, clean_env: Path) -> None:
    jf = write_jugfile(tmp_path, "x = 1\n")
    (tmp_path / ".jugrc").write_text("[main]\nstale-after = 7\nverbose = info\n"
                                     "[cleanup]\nstale_after = 9\n")
    _, args = cli.parse(["cleanup", str(jf)])
    assert args.stale_after == 9.0 and args.verbose == "info"
    _, args = cli.parse(["status", str(jf)])
    assert args.verbose == "info"


def test_jug_config_env_names_the_user_file(tmp_path: Path, clean_env: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".config" / "jug" / "jugrc").write_text("webstatus:\n  port: 1111\n")
    other = tmp_path / "my.yaml"
    other.write_text("webstatus:\n  port: 2222\n")
    (tmp_path / "p").mkdir()
    jf = write_jugfile(tmp_path / "p", "")
    assert cli.parse(["webstatus", str(jf)])[1].port == 1111
    monkeypatch.setenv("JUG_CONFIG", str(other))
    assert cli.parse(["webstatus", str(jf)])[1].port == 2222


# -- end to end ---------------------------------------------------------------------------


def test_jugdir_layers_end_to_end(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    jf = write_jugfile(proj, CHAIN)
    home = tmp_path / "home"
    (home / ".config" / "jug").mkdir(parents=True)
    env = {"HOME": str(home)}

    def jugdir(*extra: str, **more: str) -> str:
        p = run_jug("status", "--json", jf, *extra, env={**env, **more})
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["jugdir"]

    # jug_env sets JUG_CONFIG=/dev/null: point it back at HOME's file explicitly
    user = home / ".config" / "jug" / "jugrc"
    env["JUG_CONFIG"] = str(user)
    assert jugdir() == str(proj / "jugfile.jugdata")
    user.write_text(f"jugdir: {tmp_path / 'u.jugdata'}\n")
    assert jugdir() == str(tmp_path / "u.jugdata")
    (proj / "jugrc").write_text(f"status:\n  jugdir: {tmp_path / 'p.jugdata'}\n")
    assert jugdir() == str(tmp_path / "p.jugdata")
    assert jugdir(JUG_JUGDIR=str(tmp_path / "e.jugdata")) == str(tmp_path / "e.jugdata")
    assert jugdir("--jugdir", str(tmp_path / "c.jugdata"),
                  JUG_JUGDIR=str(tmp_path / "e.jugdata")) == str(tmp_path / "c.jugdata")
    # and the project setting reaches the other subcommands too (its 'main' form)
    (proj / "jugrc").write_text(f"jugdir: {tmp_path / 'p.jugdata'}\n")
    ok("execute", jf, env=env)
    assert ok("check", jf, env=env).returncode == 0
    assert select_store(str(tmp_path / "p.jugdata")).list()


def test_home_user_config_end_to_end(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    home = tmp_path / "home"
    (home / ".config" / "jug").mkdir(parents=True)
    (home / ".config" / "jug" / "jugrc").write_text("check:\n  verbose: info\n")
    e = jug_env({"HOME": str(home)})
    del e["JUG_CONFIG"]  # the real default: ~/.config/jug/jugrc under HOME
    p = subprocess.run([sys.executable, "-m", "jug", "check", str(jf)], env=e,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "12 tasks: 7 waiting, 5 ready, 0 finished" in p.stdout


def test_cleanup_stale_after_from_project_config(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    store = select_store(str(jd))
    now = time.time()
    store.lock("a" * 40, {"host": "elsewhere", "pid": 1, "heartbeat": now - 100,
                          "locked_at": now - 100})
    ok("cleanup", jf, "--jugdir", jd, "--stale")
    assert len(store.list_locks()) == 1  # default 300 s: heartbeat 100 s old is fresh
    (tmp_path / "jugrc").write_text("cleanup:\n  stale-after: 50\n")
    ok("cleanup", jf, "--jugdir", jd, "--stale", env={"JUG_STALE_AFTER": "500"})
    assert len(store.list_locks()) == 1  # env beats the project file
    p = ok("cleanup", jf, "--jugdir", jd, "--stale")
    assert store.list_locks() == {} and "(more than 50s)" in p.stdout
    assert re.search(r"no heartbeat for 10\ds", p.stdout)  # 100 s and the runs' own time


def test_webstatus_port_layers_end_to_end(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    socks = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        socks.append(s)
    p1, p2, p3 = (s.getsockname()[1] for s in socks)
    try:
        (tmp_path / "jugrc").write_text(f"webstatus:\n  port: {p1}\n")
        p = run_jug("webstatus", jf, timeout=30)
        assert p.returncode == 2 and f"port {p1} " in p.stderr
        p = run_jug("webstatus", jf, env={"JUG_PORT": str(p2)}, timeout=30)
        assert p.returncode == 2 and f"port {p2} " in p.stderr
        p = run_jug("webstatus", jf, "--port", p3, env={"JUG_PORT": str(p2)}, timeout=30)
        assert p.returncode == 2 and f"port {p3} " in p.stderr
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("sub", list(SUBCOMMANDS))
def test_help_shows_every_option_with_its_default(sub: str) -> None:
    p = ok(sub, "--help")
    text = " ".join(p.stdout.split())
    module = importlib.import_module(SUBCOMMANDS[sub])
    for opt in all_options(module):
        assert f"--{opt.name}" in text
        if opt.default not in (None, []):
            assert f"(default: {opt.default})" in text, (sub, opt.name)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("typo,meant", [("stauts", "status"), ("invalidat", "invalidate"),
                                        ("sleep_until", "sleep-until"), ("web-status", "webstatus"),
                                        ("cleanpu", "cleanup")])
def test_unknown_subcommand_suggests_the_nearest(typo: str, meant: str) -> None:
    p = run_jug(typo)
    assert p.returncode == 2 and f"Did you mean 'jug {meant}'" in p.stderr


def test_unknown_option_and_bad_values(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    p = run_jug("cleanup", jf, "--no-such-option")
    assert p.returncode == 2 and "--no-such-option" in p.stderr
    p = run_jug("webstatus", jf, "--port", "eighty")
    assert p.returncode == 2 and "expected a TCP port number (0-65535), got 'eighty'" in p.stderr
    p = run_jug("sleep-until", jf, env={"JUG_POLL_INTERVAL": "soon"})
    assert p.returncode == 2 and "soon" in p.stderr
    (tmp_path / "jugrc").write_text("cleanup:\n  stale: maybe\n")
    p = run_jug("cleanup", jf)
    assert p.returncode == 2 and "maybe" in p.stderr
