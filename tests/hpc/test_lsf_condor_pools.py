"""Worker pools, the examples, and scheduler detection on the fake LSF and HTCondor."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest
from fakebatch import stop_all
from support import FAKECONDOR, FAKELSF, ROOT
from test_pools_clusters import write_project

from jug.backends import select_store
from jug.hpc.job import submitted_arrays

FAKES = {"lsf": (FAKELSF, "FAKELSF_DIR", '#BSUB -gpu "num=1"'),
         "htcondor": (FAKECONDOR, "FAKECONDOR_DIR", "#HTCONDOR request_gpus = 1")}


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """(scheduler, environment) of one fake, once for each; nothing left running."""
    name = request.param
    folder, var, _ = FAKES[name]
    state = tmp_path / name
    yield name, {var: str(state), "HOME": str(tmp_path), "PATH_PREFIX": str(folder)}
    stop_all(state)


def pipeline(project: Path) -> None:
    write_project(project, "gpus: 1", n_prep=4, n_post=2, prep_secs=0.5)
    source = (project / "pipeline.py").read_text().replace("time.sleep(8)", "time.sleep(2)")
    (project / "pipeline.py").write_text(source)


def test_pools_run_to_completion_under_watch(jug, project: Path, fake: tuple) -> None:
    """prep (default pool) -> train (gpu pool, its own array, with the GPU request) -> post."""
    name, env = fake
    pipeline(project)
    p = jug("submit", "--scheduler", name, "--watch", "--poll", "0.5", "pipeline.py",
            cwd=project, path_prefix=env["PATH_PREFIX"], env=env, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "done: all 8 tasks finished" in p.stdout
    docs = submitted_arrays(select_store(str(project / "pipeline.jugdata")),
                            str(project / "pipeline.py"))
    assert {d.get("pool") for d in docs.values()} == {"default", "gpu"}
    gpu_scripts = [Path(d["script"]).read_text() for d in docs.values() if d["pool"] == "gpu"]
    assert gpu_scripts and all(FAKES[name][2] in s for s in gpu_scripts)
    marks = sorted(f.name.split("-")[0] for f in (project / "side").iterdir())
    assert [m for m in marks if not m.startswith("end")] == sorted(
        ["prep0", "prep1", "prep2", "prep3", "train0", "train1", "post0", "post1"])


def test_pools_dry_run_shows_each_pools_script(jug, project: Path, fake: tuple) -> None:
    name, env = fake
    pipeline(project)
    p = jug("submit", "--scheduler", name, "--dry-run", "--until-done", "pipeline.py",
            cwd=project, path_prefix=env["PATH_PREFIX"], env=env)
    assert p.returncode == 0, p.stderr
    assert "# ==== pool gpu" in p.stdout and "# ==== pool default" in p.stdout
    assert FAKES[name][2] in p.stdout and "planner job of generation 1" in p.stdout
    assert not Path(env[FAKES[name][1]]).exists()  # nothing submitted, no daemon started


@pytest.mark.parametrize("example,marker", [("lsf", "#BSUB -q normal"),
                                            ("htcondor", "#HTCONDOR request_memory = 2048")])
def test_examples_render_with_their_profiles(jug, tmp_path: Path, example: str,
                                             marker: str) -> None:
    dest = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, dest)
    p = jug("submit", "--dry-run", "jugfile.py", cwd=dest)
    assert p.returncode == 0, p.stderr
    assert marker in p.stdout and "tasks: 1 waiting, 200 ready" in p.stdout
    big = jug("submit", "--dry-run", "--profile", "big", "jugfile.py", cwd=dest)
    assert big.returncode == 0, big.stderr
    assert ("%40" in big.stdout) if example == "lsf" else ("max_materialize = 100" in big.stdout)
    assert (dest / "README.md").read_text().count("jug submit") >= 5


@pytest.mark.parametrize("name", sorted(FAKES))
def test_scheduler_detected_from_path(jug, project: Path, tmp_path: Path, name: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    p = jug("submit", "--dry-run", "--no-check", "work.py", cwd=project,
            env={"PATH": f"{FAKES[name][0]}:{bindir}"})
    assert p.returncode == 0, p.stderr
    assert f"scheduler        {name}  <- derived" in p.stdout
