"""``jug shell``: IPython with the jugfile's namespace, driven non-interactively."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CHAIN, ok, run_jug, status, write_jugfile

pytest.importorskip("IPython")


@pytest.fixture
def done(tmp_path: Path) -> tuple[Path, Path]:
    """CHAIN, executed."""
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    return jf, jd


def test_command_sees_namespace_value_and_store(done: tuple[Path, Path]) -> None:
    jf, jd = done
    p = ok("shell", jf, "--jugdir", jd, "--command",
           "print('R', value(final), value(picked), len(tasks), store.description, "
           "jug.__name__)")
    assert f"R 6 [1, 2, 3] 12 {jd} jug" in p.stdout


def test_command_error_gives_exit_1(done: tuple[Path, Path]) -> None:
    jf, jd = done
    p = run_jug("shell", jf, "--jugdir", jd, "-c", "undefined_name_42")
    assert p.returncode == 1 and "undefined_name_42" in p.stdout + p.stderr


def test_invalidate_in_shell_is_recursive(done: tuple[Path, Path]) -> None:
    jf, jd = done
    p = ok("shell", jf, "--jugdir", jd, "-c", "print('N', invalidate(loaded[1]))")
    # load1 -> pair1 -> pick1 (through pair1[0]) -> report
    assert "N 4" in p.stdout
    st = status(jf, jd)["tasks"]
    assert [st[f"jugfile.{n}"]["finished"] for n in ("load", "pair", "pick", "report", "other")] \
        == [2, 2, 2, 0, 2]


def test_interactive_shell_reads_piped_input(done: tuple[Path, Path]) -> None:
    jf, jd = done
    p = run_jug("shell", jf, "--jugdir", jd,
                input="x = value(final) * 2\nprint('DOUBLE', x)\nexit()\n")
    assert p.returncode == 0, p.stderr
    assert "jug shell:" in p.stdout and "DOUBLE 12" in p.stdout


def test_without_ipython_a_clear_message(tmp_path: Path, done: tuple[Path, Path]) -> None:
    jf, jd = done
    shim = tmp_path / "shim" / "IPython"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named IPython')\n")
    root = Path(__file__).resolve().parent.parent
    p = run_jug("shell", jf, "--jugdir", jd, env={"PYTHONPATH": f"{shim.parent}:{root}"})
    assert p.returncode == 2 and "needs IPython" in p.stderr
    assert "python -m pip install '.[shell]'" in p.stderr  # the checkout's, not the index's Jug
