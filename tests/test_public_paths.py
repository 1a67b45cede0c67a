"""The paths outside code relies on survive the layout: the modules a jugfile or a user's
script imports (Jug's documented API), and the ``python -m`` entry points queued job scripts
call, including the old ones kept for one release."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import jug_env, status, wait_until, write_jugfile

#: module -> names Jug's documentation (and Jug's own tests) use from it
PUBLIC = {
    "jug": ["Task", "TaskGenerator", "Tasklet", "value", "barrier", "bvalue", "CachedFunction",
            "CompoundTask", "CompoundTaskGenerator", "iteratetask", "init", "set_jugdir",
            "is_jug_running", "recursive_dependencies", "__version__"],
    "jug.task": ["Task", "TaskGenerator", "Tasklet", "value", "iteratetask",
                 "recursive_dependencies"],
    "jug.io": ["write_task_out", "write_metadata", "print_task_summary_table"],
    "jug.mapreduce": ["map", "mapreduce", "reduce"],
    "jug.compound": ["CompoundTask", "CompoundTaskGenerator", "compound_task_execute"],
    "jug.utils": ["identity", "timed_path", "sync_move", "cached_glob"],
    "jug.hash": [],
    "jug.barrier": ["barrier", "bvalue"],
    "jug.hooks.exit_checks": ["exit_after_n_tasks", "exit_after_time", "exit_env_vars",
                              "exit_if_file_exists", "exit_when_true"],
    "jug.backends": ["select_store"],
    "jug.backends.file_store": [],
    "jug.backends.dict_store": [],
    "jug.backends.redis_store": [],
}

#: ``python -m`` paths rendered into job scripts (old ones stay for one release)
ENTRY_POINTS = ["jug", "jug.hpc.chain", "jug.commands.sge_entry", "jug.hpc.worker"]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_module_imports_with_its_documented_names(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in PUBLIC[module] if not hasattr(mod, n)]
    assert missing == [], f"{module} lacks {missing}"


def test_top_level_holds_only_what_a_jugfile_or_script_imports() -> None:
    """The folder tells the room: anything else at the top of jug/ lives in a subpackage."""
    top = Path(importlib.import_module("jug").__file__).parent
    modules = sorted(p.stem for p in top.glob("*.py"))
    assert modules == ["__init__", "__main__", "_version", "barrier", "cached", "compound",
                       "hash", "io", "jugfile", "mapreduce", "task", "utils"]


@pytest.mark.parametrize("module", ENTRY_POINTS[1:])
def test_entry_point_modules_run(module: str) -> None:
    p = subprocess.run([sys.executable, "-m", module, "--help"], env=jug_env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "usage:" in p.stdout, p.stderr


SLOW = """
from jug import TaskGenerator

@TaskGenerator
def slow(i):
    import time; time.sleep(30)
    return i

x = slow(1)
"""


@pytest.mark.parametrize("module", ["jug.commands.sge_entry", "jug.hpc.worker"])
def test_sge_entry_turns_the_soft_walltime_signal_into_a_clean_stop(tmp_path: Path,
                                                                     module: str) -> None:
    """SGE's SIGUSR1 (s_rt) would kill Python with the lock held; through the entry (and the
    old path queued scripts still call) jug execute runs and stops cleanly: lock released,
    exit 143 (the exit of a SIGTERM)."""
    jf = write_jugfile(tmp_path, SLOW)
    w = subprocess.Popen([sys.executable, "-m", module, "execute", str(jf)], env=jug_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: status(jf)["locks"]["count"], 30, "the task to get locked", every=0.1)
    w.send_signal(signal.SIGUSR1)
    _, err = w.communicate(timeout=30)
    assert w.returncode == 143, err
    assert "released the lock of the running task jugfile.slow and stopped" in err, err
    assert status(jf)["locks"]["count"] == 0
