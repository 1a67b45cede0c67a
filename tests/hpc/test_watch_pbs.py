"""``jug submit --watch`` with the fake PBS of tests/fakepbs (no throttle: arrays only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FAKEPBS, fast_idle_workers, side_effects


@pytest.mark.parametrize("dialect", ["pbs", "torque"])
def test_watch_runs_everything_and_exits_zero(jug, project: Path, tmp_path: Path,
                                              dialect: str) -> None:
    state = tmp_path / "fakepbs"
    fast_idle_workers(tmp_path)
    env = {"FAKEPBS_DIR": str(state), "HOME": str(tmp_path), "FAKEPBS_SYNC": "1"}
    p = jug("submit", "--scheduler", dialect, "--watch", "--poll", "0.2", "--max-workers", "2",
            "--walltime", "0:30:00", "work.py", "--", "6", "0.1", cwd=project,
            path_prefix=str(FAKEPBS), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"submitted {dialect} array 1[].fakeserver: 2 worker(s)" in p.stdout
    assert "done: all 6 tasks finished" in p.stdout
    assert sorted(side_effects(project)[1], key=int) == [str(i) for i in range(6)]
    calls = [json.loads(x) for x in (state / "calls.jsonl").read_text().splitlines()]
    queries = [c for c in calls if c["cmd"] == "qstat" and "-u" in c["argv"]]
    polls = p.stdout.count(" tasks: ")
    assert [c["cmd"] for c in calls].count("qsub") == 1
    assert len(queries) == polls >= 2  # one queue query per poll (plus the limit, once)
