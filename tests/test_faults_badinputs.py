"""The bad-input table (issue 11, "The suite"): each bad input gets its exit code and a clear
first error line, never a traceback of jug's own code.  docs/bad-inputs.md shows the same
table; regenerate it with ``python tests/test_faults_badinputs.py > docs/bad-inputs.md``."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from support import error_lines, run_jug, write_jugfile

DOC = Path(__file__).resolve().parent.parent / "docs" / "bad-inputs.md"

GOOD = """
from jug import TaskGenerator

@TaskGenerator
def one():
    return 1

x = one()
"""


def _jugfile(source: str) -> Callable[[Path], None]:
    return lambda d: write_jugfile(d, GOOD + source) and None


def _file(name: str, text: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        write_jugfile(d, GOOD)
        (d / name).write_text(text)
    return setup


def _foreign_store(d: Path) -> None:
    write_jugfile(d, GOOD)
    (d / "jugfile.jugdata").mkdir()
    os.chown(d / "jugfile.jugdata", 65534, 65534)


def _planted_jugrc(d: Path) -> None:
    shared = d / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "jugrc").write_text("jugdir: /tmp/elsewhere\n")
    (shared / "proj").mkdir()
    write_jugfile(shared / "proj", GOOD)


@dataclass
class Case:
    """One bad input: what is given, the exit code, and words the first error line contains."""

    what: str
    args: tuple
    code: int
    expect: str
    setup: Callable[[Path], None] = field(default=lambda d: write_jugfile(d, GOOD) and None)
    env: dict = field(default_factory=dict)


CASES = [
    Case("jugfile missing", ("execute", "nothere.py"), 1, "jugfile not found: nothere.py"),
    Case("jugfile with a syntax error", ("execute",), 1, "cannot load jugfile",
         _jugfile("def broken(:\n")),
    Case("jugfile raises while loading", ("status",), 1, "error while loading jugfile",
         _jugfile("1 / 0\n")),
    Case("jugfile calls sys.exit() while loading", ("execute",), 1, "called sys.exit(4)",
         _jugfile("import sys\nsys.exit(4)\n")),
    Case("misspelt subcommand", ("exeute",), 2, "Did you mean 'jug execute'?"),
    Case("unknown option", ("execute", "--fast"), 2, "unrecognized arguments: --fast"),
    Case("jugdir with an unknown scheme", ("execute", "--jugdir", "ftp://host/x"), 2,
         "unknown jugdir scheme 'ftp://'"),
    Case("jugdir is a file", ("execute", "--jugdir", "jugfile.py"), 2,
         "exists and is not a directory"),
    Case("Redis not running", ("status", "--jugdir", "redis://127.0.0.1:1/0"), 1,
         "cannot reach Redis at 127.0.0.1:1"),
    Case("--target matches no task", ("execute", "--target", "nope"), 1, "matches no task"),
    Case("invalidate without --target", ("invalidate",), 2, "needs --target NAME"),
    Case("invalidate an unknown task", ("invalidate", "--target", "nope"), 1,
         "no task is named 'nope'"),
    Case("cleanup with two modes", ("cleanup", "--stale", "--locks-only"), 2,
         "choose one of --locks-only, --failed-only, --stale"),
    Case("webstatus --port 99999", ("webstatus", "--port", "99999"), 2,
         "expected a TCP port number (0-65535), got '99999'"),
    Case("--wait-cycle-time -5", ("execute", "--wait-cycle-time", "-5"), 2,
         "expected a number of seconds >= 0, got '-5'"),
    Case("--heartbeat nan", ("execute", "--heartbeat", "nan"), 2,
         "expected a number of seconds >= 0, got 'nan'"),
    Case("--nr-wait-cycles abc", ("execute", "--nr-wait-cycles", "abc"), 2,
         "expected a whole number >= 0, got 'abc'"),
    Case("--verbose loud", ("status", "--verbose", "loud"), 2, "invalid choice: 'loud'"),
    Case("jugrc with a YAML syntax error", ("status",), 2,
         "jugrc, line 2: syntax error in config file", _file("jugrc", "jugdir: [x\n")),
    Case("jugrc with an INI syntax error", ("status",), 2,
         "jugrc, line 2: syntax error in config file: cannot parse 'oops'",
         _file("jugrc", "[main]\noops\n")),
    Case("jugrc with a misspelt key", ("status",), 0,
         "unknown option 'jugdirr', ignored; did you mean 'jugdir'?",
         _file("jugrc", "jugdirr: elsewhere\n")),
    Case("jugrc with a bad value", ("execute",), 2, "expected a number of seconds >= 0",
         _file("jugrc", "execute:\n  heartbeat: .nan\n")),
    Case("JUG_KEEP_GOING=maybe", ("execute",), 2, "expected true/false, got 'maybe'",
         env={"JUG_KEEP_GOING": "maybe"}),
    Case("JUG_MAX_TASKS=many", ("execute",), 2, "JUG_MAX_TASKS", env={"JUG_MAX_TASKS": "many"}),
    Case("JUG_POLL_INTERVAL=soon", ("sleep-until",), 2, "soon",
         env={"JUG_POLL_INTERVAL": "soon"}),
    Case("a lambda as Task function", ("execute",), 1, "cannot use a lambda",
         _jugfile("from jug import Task\nTask(lambda: 1)\n")),
    Case("a task returns something unpicklable", ("execute",), 1, "cannot be saved (not picklable)",
         _jugfile("import threading\n@TaskGenerator\ndef bad():\n    return threading.Lock()\n"
                  "bad()\n")),
    Case("a task calls sys.exit(3)", ("execute",), 1, "task jugfile.quits",
         _jugfile("import sys\n@TaskGenerator\ndef quits():\n    sys.exit(3)\nquits()\n")),
    Case("a jugdir owned by another user", ("execute",), 2, "refusing to open the jugdir",
         _foreign_store),
    Case("a jugrc planted in a world-writable parent", ("status", "shared/proj/jugfile.py"), 0,
         "ignoring config file", _planted_jugrc),
    Case("--retries x", ("execute", "--retries", "x"), 2, "expected N or NAME=N"),
    Case("--retry-on with a space", ("execute", "--retry-on", "OS Error"), 2,
         "expected exception class names"),
    Case("JUG_RETRIES=many", ("execute",), 2, "environment JUG_RETRIES: option retries",
         env={"JUG_RETRIES": "many"}),
    Case("--traceback of a task that did not fail", ("status", "--traceback", "one"), 1,
         "no task has failed"),
]


def first_error_line(stderr: str, folder: Path) -> str:
    """The first line of stderr that jug wrote (not argparse's usage), with paths, hashes and
    times made stable."""
    line = next((ln for ln in error_lines(stderr) if ln.startswith("jug")), "")
    line = line.replace(str(folder), "<dir>")
    line = re.sub(r"\b[0-9a-f]{40}\b", "<hash>", line)
    return re.sub(r"\d+\.\d+s\b", "<t>s", line)


def observe(case: Case, folder: Path) -> tuple[int, str, str]:
    """Run ``case`` in ``folder``: (exit code, first error line, whole stderr)."""
    case.setup(folder)
    args = case.args if any(str(a).endswith(".py") for a in case.args) else (*case.args,
                                                                             "jugfile.py")
    p = run_jug(*args, cwd=folder, env=case.env, timeout=60)
    return p.returncode, first_error_line(p.stderr, folder), p.stderr


@pytest.mark.parametrize("n", range(len(CASES)), ids=[c.what for c in CASES])
def test_bad_input(n: int, tmp_path: Path) -> None:
    case = CASES[n]
    code, line, stderr = observe(case, tmp_path)
    assert code == case.code, stderr
    assert case.expect in line, stderr
    assert "Traceback" not in stderr or "/jug/" not in stderr.split("Traceback", 1)[1], stderr


def test_table_is_documented() -> None:
    rows = DOC.read_text().splitlines()
    assert len(CASES) >= 25
    for n, case in enumerate(CASES, 1):
        row = next((r for r in rows if r.startswith(f"| {n} | {case.what} |")), None)
        assert row is not None, f"docs/bad-inputs.md has no row {n} ({case.what})"
        assert f"| {case.code} |" in row and case.expect.replace("|", "\\|") in row, row


def markdown() -> str:
    """docs/bad-inputs.md: the table as observed now."""
    out = ["# Bad inputs: exit codes and first error lines", "",
           "Generated by `python tests/test_faults_badinputs.py > docs/bad-inputs.md`; the test",
           "suite checks every row.  Exit codes: 0 done (warnings only), 1 a task or the jugfile",
           "failed, 2 bad usage or an unusable store (never a traceback of jug's own code).", "",
           "| # | Input | Command | Exit | First error line |", "|---|---|---|---|---|"]
    for n, case in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory() as d:
            code, line, _ = observe(case, Path(d))
        env = " ".join(f"{k}={v}" for k, v in case.env.items())
        cmd = " ".join(["jug", *map(str, case.args)])
        cmd = f"{env} {cmd}".strip().replace("|", "\\|")
        out.append(f"| {n} | {case.what} | `{cmd}` | {code} | {line.replace('|', chr(92) + '|')} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.stdout.write(markdown())
