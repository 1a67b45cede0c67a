"""Helpers shared by the HPC tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLUSTERS = ROOT / "tests" / "clusters"
FAKEPBS = ROOT / "tests" / "fakepbs"
JUGFILES = HERE / "jugfiles"
GOLDEN = ROOT / "tests" / "golden"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def base_env(extra: dict | None = None) -> dict[str, str]:
    """The environment of ``jug submit`` in tests: no user profile or jugrc leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUG_")}
    env["JUG_SUBMIT_CONFIG"] = "/nonexistent/submit.yaml"
    env["JUG_CONFIG"] = "/nonexistent/jugrc"
    env.update(extra or {})
    return env


def status(jug: Callable, proj: Path, jugfile: str = "work.py", args: tuple = ()) -> dict:
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


def wait_until(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll ``pred`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    end = time.time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.time() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def fast_idle_workers(folder: Path) -> None:
    """A profile file making idle workers re-check every second (tests only; default 12 s)."""
    (folder / "jug-submit.yaml").write_text('execute-args: ["--wait-cycle-time", "1"]\n')
