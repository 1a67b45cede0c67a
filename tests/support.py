"""The one helpers module of the tests: run ``jug`` on jugfiles in temporary folders (in
subprocesses, this checkout first on the path), read its status, wait for conditions (one
polling helper, :func:`wait_until`), and the HPC tests' projects, fake PBS and chains.

Import from here (``from support import ...``) in tests/ and tests/hpc/ alike; sub-folders
have their own conftest.py, so ``from conftest import ...`` would be ambiguous.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HPC = ROOT / "tests" / "hpc"
CLUSTERS = ROOT / "tests" / "clusters"
FAKEPBS = ROOT / "tests" / "fakepbs"
FAKELSF = ROOT / "tests" / "fakelsf"
FAKECONDOR = ROOT / "tests" / "fakecondor"
JUGFILES = HPC / "jugfiles"
GOLDEN = ROOT / "tests" / "golden"

def jug_env(extra: dict | None = None) -> dict:
    """Environment for a jug subprocess: this checkout first on the path, no batch-job vars."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PBS_", "SGE_", "JUG_", "LSB_", "HTCONDOR_"))
           and k != "JOB_ID"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JUG_CONFIG"] = os.devnull  # no user config leaks into tests
    if extra:
        env.update(extra)
    return env


def run_jug(*args: str, cwd: Path | str | None = None, env: dict | None = None,
            timeout: float = 120, check: bool = False, input: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``python -m jug ARGS`` (stdin ``input``) and return the completed process."""
    proc = subprocess.run([sys.executable, "-m", "jug", *map(str, args)], cwd=cwd,
                          env=jug_env(env), capture_output=True, text=True, timeout=timeout,
                          input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"jug {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def start_jug(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start ``python -m jug ARGS`` in the background."""
    return subprocess.Popen([sys.executable, "-m", "jug", *map(str, args)], cwd=cwd,
                            env=jug_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def write_jugfile(folder: Path, source: str, name: str = "jugfile.py") -> Path:
    """Write a dedented jugfile into ``folder`` and return its path."""
    path = Path(folder) / name
    path.write_text(textwrap.dedent(source))
    return path


WORKER_LOG = re.compile(r"^jug \[\d\d:\d\d:\d\d\] ")


def error_lines(stderr: str) -> list[str]:
    """The non-blank lines of ``stderr`` other than a worker's own log lines (start, summary,
    exit: ``jug [HH:MM:SS] ...``): what a user reads as the error."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not WORKER_LOG.match(ln)]


def ok(*args: Any, **kw: Any) -> subprocess.CompletedProcess:
    """``run_jug`` that must exit 0 (the assertion shows the output otherwise)."""
    p = run_jug(*args, **kw)
    assert p.returncode == 0, f"jug {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def status(jugfile: Path, jugdir: str | Path | None = None, *extra: str, **kw: Any) -> dict:
    """The ``jug status --json`` document (the command must exit 0)."""
    where = ["--jugdir", jugdir] if jugdir is not None else []
    return json.loads(ok("status", "--json", jugfile, *where, *extra, **kw).stdout)


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


def marks(folder: Path) -> dict[str, int]:
    """How many times each marked task ran (``{mark name: runs}``)."""
    d = Path(folder) / "marks"
    return {p.name: len(p.read_text()) for p in d.iterdir()} if d.is_dir() else {}


def wait_until(pred: Callable[[], Any], timeout: float = 20, what: str = "condition",
               every: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something truthy (and return it); fail naming ``what``
    after ``timeout`` seconds.  ``pred`` may assert (e.g. that a worker is still alive)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    """Terminate a background jug (if still running) and return its output."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def make_jugdir(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A jugdir of ``kind``: 'file' (a folder in tmp_path) or 'redis' (tests/redis_fixture.py)."""
    if kind == "file":
        return str(tmp_path / "data.jugdata")
    return request.getfixturevalue("redis_url")


#: a jugfile prelude: ``mark(name)`` appends to marks/<name>, so tests count runs (``marks``)
MARKS_PRELUDE = """
import os
from jug import TaskGenerator

MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marks")
os.makedirs(MARKS, exist_ok=True)

def mark(name):
    with open(os.path.join(MARKS, name), "a") as f:
        f.write("x")
"""

#: a jugfile with a Tasklet edge: ``pair`` -> ``pick`` (via pair[0]) -> ``report``
CHAIN = MARKS_PRELUDE + """
@TaskGenerator
def load(i):
    mark(f"load{i}")
    return i

@TaskGenerator
def pair(x):
    mark(f"pair{x}")
    return (x, x * 10)

@TaskGenerator
def pick(v):
    mark(f"pick{v}")
    return v + 1

@TaskGenerator
def report(vs):
    mark("report")
    return sum(vs)

@TaskGenerator
def other(i):
    mark(f"other{i}")
    return -i

loaded = [load(i) for i in range(3)]
pairs = [pair(x) for x in loaded]
picked = [pick(p[0]) for p in pairs]
final = report(picked)
others = [other(i) for i in range(2)]
"""

# A jugfile stopped by a barrier until its first three tasks have run.
BARRIER = """
from jug import TaskGenerator, barrier

@TaskGenerator
def first(i):
    return i

@TaskGenerator
def second(xs):
    return sum(xs)

xs = [first(i) for i in range(3)]
barrier()
total = second(xs)
"""


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


# -- HPC: projects, the fake PBS, --until-done chains ------------------------------------

def base_env(extra: dict | None = None) -> dict[str, str]:
    """The environment of ``jug submit`` in tests: this checkout first on the path (its
    workers inherit it), no user profile or jugrc leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUG_")}
    # this checkout first, as jug_env does: a second worktree must not test the installed jug
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JUG_SUBMIT_CONFIG"] = "/nonexistent/submit.yaml"
    env["JUG_CONFIG"] = "/nonexistent/jugrc"
    env.update(extra or {})
    return env


def project_status(jug: Callable, proj: Path, jugfile: str = "work.py", args: tuple = ()) -> dict:
    """``jug status --json`` of the project."""
    extra = ["--", *args] if args else []
    proc = jug("status", "--json", jugfile, *extra, cwd=proj)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def side_effects(proj: Path) -> tuple[list[str], list[str]]:
    """(started, finished) task indices recorded by work.py, one entry per execution."""
    side = proj / "side"
    names = sorted(p.name for p in side.iterdir()) if side.exists() else []
    started = [n.split("-")[1] for n in names if n.startswith("start-")]
    done = [n.split("-")[1] for n in names if n.startswith("done-")]
    return started, done


def fast_idle_workers(folder: Path) -> None:
    """A profile file making idle workers re-check every second (tests only; default 12 s)."""
    (folder / "jug-submit.yaml").write_text('execute-args: ["--wait-cycle-time", "1"]\n')


FAILING = """
from jug import TaskGenerator

@TaskGenerator
def broken(i):
    raise ValueError(f"task {i} is broken")

results = [broken(i) for i in range(6)]
"""


def until_done(proj: Path, sched: str, *args: str, jugfile: str = "work.py",
               work: tuple = (), env: dict | None = None) -> subprocess.CompletedProcess:
    """``jug submit --until-done``; asserts that it returned at once (within 60 s)."""
    extra = ["--", *work] if work else []
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "jug", "submit", "--scheduler", sched,
                        "--until-done", *args, jugfile, *extra], cwd=proj, env=base_env(env),
                       capture_output=True, text=True, timeout=120)
    assert time.time() - t0 < 60, "jug submit --until-done did not return at once"
    return p


def chain_of(proj: Path, jugfile: str = "work.py") -> Any:
    """The chain record of the project's jugfile (None before the first submission)."""
    from jug.backends import select_store
    from jug.hpc.chain.records import Chain

    store = select_store(str(proj / (Path(jugfile).stem + ".jugdata")))
    return Chain.load(store, str(proj / jugfile))


def wait_chain_end(proj: Path, timeout: float, jugfile: str = "work.py") -> Any:
    """Read the store until the chain is no longer running (no process of ours in between
    but this reader: the work carries itself)."""
    from jug.hpc.chain.records import RUNNING

    return wait_until(lambda: (c := chain_of(proj, jugfile)) and c.status != RUNNING and c,
                      timeout, "the chain to end", every=2.0)


def assert_each_task_once(proj: Path, n: int) -> None:
    """Every task of work.py started and finished exactly once."""
    started, done = side_effects(proj)
    assert sorted(done, key=int) == [str(i) for i in range(n)], done
    assert sorted(started, key=int) == sorted(done, key=int), started  # none ran twice


def cancel_quietly(proj: Path, jugfile: str = "work.py", env: dict | None = None) -> None:
    """``jug submit --cancel`` (the store knows each job's scheduler): only this test's jobs."""
    subprocess.run([sys.executable, "-m", "jug", "submit", "--cancel", jugfile], cwd=proj,
                   env=base_env(env), capture_output=True, timeout=120)


#: the three task functions of the worker-pool tests (prep -> train -> post); each test adds
#: its own task lines
POOL_FUNCTIONS = """
from jug import TaskGenerator

@TaskGenerator
def prep(i):
    return i

@TaskGenerator
def train(xs):
    return sum(xs)

@TaskGenerator
def post(m, i):
    return m + i
"""
