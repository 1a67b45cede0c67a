"""Documented behaviour of the Task API, checked against the reference (jug-api.txt)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import jug_env, run_jug, write_jugfile

from jug import Task
from jug.backends.dict_store import DictStore
from jug.task import alltasks


def double(x: int) -> int:
    return 2 * x


def python_out(cwd: Path, code: str) -> str:
    """Run ``code`` in a fresh plain Python in ``cwd``; its stripped stdout."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=jug_env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture
def store():
    """A fresh in-memory store, with the Task registry emptied before and after."""
    alltasks.clear()
    old = Task.store
    Task.store = DictStore()
    yield Task.store
    Task.store = old
    alltasks.clear()


def test_run_without_save_leaves_nothing_in_the_store(store) -> None:
    # reference: "save: if true, save the result to the store"
    t = Task(double, 4)
    after = Task(double, t)
    assert t.run(save=False) == 8
    assert not store.can_load(t.hash())
    assert not t.can_load() and not after.can_run()
    assert t.value() == 8  # the computed value is still returned to the caller
    assert t.run() == 8  # a saving run stores it
    assert t.can_load() and store.can_load(t.hash()) and after.can_run()


def test_lambda_is_refused_with_a_value_error(store) -> None:
    # Jug raises ValueError here and user code catches that
    from jug import TaskGenerator

    with pytest.raises(ValueError, match="lambda"):
        Task(lambda x: x, 1)
    with pytest.raises(ValueError, match="lambda"):
        TaskGenerator(lambda x: x)
    assert alltasks == []


def test_repr_names_function_and_abbreviated_arguments(store) -> None:
    t = Task(double, 21)
    assert t.name.endswith(".double")
    assert repr(t) == f"Task({t.name}, 21)"
    big = Task(double, list(range(10_000)), scale="x" * 500)
    text = repr(big)
    assert text.startswith("Task(") and "double" in text and "scale=" in text
    assert len(text) < 200 and "..." in text
    chain = t
    for _ in range(3000):  # a Task inside the arguments is named, not expanded
        chain = Task(double, chain)
    assert repr(chain) == f"Task({t.name}, Task({t.name}, ...))"
    assert repr(t[0]) == f"Tasklet(Task({t.name}, 21), [0])"


RUNNING_PROBE = """
import jug
during_load = jug.is_jug_running()
"""


def test_is_jug_running_after_init_from_plain_python(tmp_path: Path) -> None:
    # reference: "True if this script is being executed by jug instead of regular Python";
    # jug.init from plain Python is regular Python (Jug 2.7 answers False there too)
    write_jugfile(tmp_path, RUNNING_PROBE, "probe.py")
    out = python_out(tmp_path, """
        import jug
        before = jug.is_jug_running()
        store, ns = jug.init("probe.py", "dict_store")
        print(before, ns["during_load"], jug.is_jug_running())
    """)
    assert out == "False False False"
    assert python_out(tmp_path, "import runpy; print(runpy.run_path('probe.py')['during_load'])"
                      ) == "False"  # plain Python, no jug.init


RUNNING_RECORDER = """
import jug
from jug import TaskGenerator

with open("seen.txt", "a") as f:
    f.write(f"load {jug.is_jug_running()}\\n")

@TaskGenerator
def probe():
    with open("seen.txt", "a") as f:
        f.write(f"task {jug.is_jug_running()}\\n")
    return 1

probe()
"""


@pytest.mark.parametrize("command", [["execute"], ["status"], ["check"], ["shell"],
                                     ["invalidate", "--target", "probe"]])
def test_is_jug_running_under_the_command_line(tmp_path: Path, command: list) -> None:
    write_jugfile(tmp_path, RUNNING_RECORDER, "rec.py")
    run_jug(*command, "rec.py", cwd=tmp_path, input="exit\n")
    seen = (tmp_path / "seen.txt").read_text().split("\n")
    assert seen[0] == "load True", seen
    if command == ["execute"]:
        assert "task True" in seen


DOUBLE_JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def double(x):
    return 2 * x

t = double(21)
"""

INIT_AND_READ = """
import jug
store, ns = jug.init("jf.py")
print(ns["t"].can_load())
"""


def test_init_without_jugdir_uses_jugfile_jugdata_else_existing_jugdata(tmp_path: Path) -> None:
    # reference default: jugdir='jugdata'; jug execute's default: jf.jugdata
    write_jugfile(tmp_path, DOUBLE_JUGFILE, "jf.py")
    run_jug("execute", "jf.py", "--jugdir", "jugdata", cwd=tmp_path, check=True)
    assert python_out(tmp_path, INIT_AND_READ) == "True"  # only ./jugdata exists: used
    assert not (tmp_path / "jf.jugdata").exists()
    run_jug("execute", "jf.py", cwd=tmp_path, check=True)  # now jf.jugdata exists too
    run_jug("invalidate", "jf.py", "--target", "jf.double", cwd=tmp_path, check=True)
    assert python_out(tmp_path, INIT_AND_READ) == "False"  # jf.jugdata wins
