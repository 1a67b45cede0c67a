"""Helpers shared by the tests/test_api_*.py files: run jug on real jugfiles in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from support import jug_env, run_jug, start_jug, write_jugfile  # noqa: F401 (re-exported)

LOG_HELPER = """
HERE = os.path.dirname(__file__)
LOG = os.path.join(HERE, "log")

def log(word):
    with open(LOG, "a") as f:
        f.write(word + "\\n")
"""


def logged_jugfile(imports: str, body: str) -> str:
    """A jugfile: ``imports`` (must import os), a ``log(word)`` side-effect helper, ``body``."""
    return textwrap.dedent(imports) + LOG_HELPER + textwrap.dedent(body)


FAST = ("--wait-cycle-time", "0.2")


def execute(jugfile: Path, jugdir: Path, *extra: str, env: dict | None = None,
            check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """``jug execute JUGFILE --jugdir DIR`` with short wait cycles; asserts exit 0 if ``check``."""
    return run_jug("execute", jugfile, "--jugdir", jugdir, *FAST, *extra, env=env, check=check,
                   timeout=timeout)


def start_execute(jugfile: Path, jugdir: Path, *extra: str, env: dict | None = None
                  ) -> subprocess.Popen:
    """Start a ``jug execute`` worker in the background."""
    return start_jug("execute", jugfile, "--jugdir", jugdir, *FAST, *extra, env=env)


def status(jugfile: Path, jugdir: Path) -> dict[str, Any]:
    """The ``jug status --json`` document."""
    p = run_jug("status", "--json", jugfile, "--jugdir", jugdir, check=True)
    return json.loads(p.stdout)


def counts(st: dict[str, Any], name: str) -> dict[str, int]:
    """The state counts of task name ``name`` (all zero if absent)."""
    return st["tasks"].get(name, dict.fromkeys(("waiting", "ready", "running", "finished",
                                                "failed"), 0))


def jug_eval(jugfile: Path, jugdir: Path, code: str, timeout: float = 120) -> Any:
    """Load the jugfile with ``jug.init`` in a fresh Python, run ``code`` and return its ``out``.

    ``code`` sees ``ns`` (the jugfile namespace), ``store``, ``value`` and ``jug``; it must set
    ``out`` to something JSON-able.
    """
    script = textwrap.dedent("""
        import json, os, sys
        import jug
        from jug import value
        store, ns = jug.init(sys.argv[1], sys.argv[2])
    """) + textwrap.dedent(code) + "\nprint('@@OUT@@' + json.dumps(out))\n"
    p = subprocess.run([sys.executable, "-c", script, str(jugfile), str(jugdir)],
                       cwd=Path(jugfile).parent, env=jug_env(), capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0 or "@@OUT@@" not in p.stdout:
        raise AssertionError(f"jug_eval failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout.split("@@OUT@@", 1)[1])


def lines(path: Path) -> list[str]:
    """The lines of a side-effect log file (empty if it does not exist)."""
    return path.read_text().split() if path.exists() else []
