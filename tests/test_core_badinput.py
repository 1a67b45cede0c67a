"""Bad input gets a clear error and loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_jug, write_jugfile

GOOD = """
from jug import TaskGenerator
@TaskGenerator
def sq(i):
    return i * i
@TaskGenerator
def total(xs):
    return sum(xs)
xs = [sq(i) for i in range(5)]
t = total(xs)
"""


def test_jugfile_that_raises_on_import(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, """
    import json
    def helper():
        raise RuntimeError("user error in helper 42")
    helper()
    """)
    for cmd in ("execute", "status"):
        p = run_jug(cmd, jf)
        assert p.returncode != 0
        assert "user error in helper 42" in p.stderr
        assert "RuntimeError" in p.stderr and "helper()" in p.stderr  # user's traceback
        assert "jug/jugfile.py" not in p.stderr  # not jug's own frames


def test_jugfile_with_syntax_error(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, "def broken(:\n    pass\n")
    p = run_jug("execute", jf)
    assert p.returncode != 0 and "SyntaxError" in p.stderr and "jugfile.py" in p.stderr


def test_missing_jugfile(tmp_path: Path) -> None:
    p = run_jug("execute", tmp_path / "nope.py")
    assert p.returncode != 0 and "jugfile not found" in p.stderr and "nope.py" in p.stderr


def test_lambda_in_jugfile(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, "from jug import Task\nt = Task(lambda x: x, 1)\n")
    p = run_jug("execute", jf)
    assert p.returncode != 0 and "lambda" in p.stderr and "def " in p.stderr


def test_unknown_jugdir_scheme(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GOOD)
    for cmd in ("execute", "status"):
        p = run_jug(cmd, jf, "--jugdir", "s3://bucket/x")
        assert p.returncode != 0
        assert "unknown jugdir scheme 's3://'" in p.stderr and "redis://" in p.stderr


def test_unpicklable_result_names_task_and_leaves_store_intact(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, """
    from jug import TaskGenerator
    @TaskGenerator
    def fine(i):
        return i
    @TaskGenerator
    def gen_result(i):
        return (x for x in range(i))  # generators cannot be pickled
    a = fine(1)
    b = gen_result(3)
    c = fine(2)
    """)
    p = run_jug("execute", "--keep-going", jf)
    assert p.returncode != 0
    assert "jugfile.gen_result" in p.stderr and "cannot be saved" in p.stderr
    st = json.loads(run_jug("status", "--json", jf, check=True).stdout)
    assert st["tasks"]["jugfile.fine"]["finished"] == 2
    assert st["tasks"]["jugfile.gen_result"]["failed"] == 1
    results = list((tmp_path / "jugfile.jugdata" / "results").rglob("*"))
    assert not any(r.name.startswith(".tmp") for r in results)  # no half-written leftovers


def _result_files(jugdir: Path) -> list[Path]:
    return [p for p in (jugdir / "results").rglob("*") if p.is_file()]


def test_corrupt_result_is_detected_named_and_recomputed(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GOOD)
    run_jug("execute", jf, check=True)
    files = _result_files(tmp_path / "jugfile.jugdata")
    assert len(files) == 6
    for i, f in enumerate(files):
        data = f.read_bytes()
        if i % 3 == 0:
            f.write_bytes(data[: len(data) // 2])  # truncated
        elif i % 3 == 1:
            f.write_bytes(b"garbage" * 3)  # not a result at all
        else:
            f.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # flipped payload bits
    p = run_jug("execute", jf)
    assert p.returncode == 0, p.stderr
    assert "corrupt" in p.stderr and "jugfile.sq" in p.stderr
    assert str(tmp_path / "jugfile.jugdata") in p.stderr  # the path is named
    code = "import jug; s, ns = jug.init('jugfile.py'); print(jug.value(ns['t']), jug.value(ns['xs']))"
    import subprocess
    import sys

    from support import jug_env
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=jug_env(),
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "30 [0, 1, 4, 9, 16]"


def test_value_of_corrupt_result_raises_clearly(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GOOD)
    run_jug("execute", jf, check=True)
    for f in _result_files(tmp_path / "jugfile.jugdata"):
        f.write_bytes(f.read_bytes()[:-3])
    import subprocess
    import sys

    from support import jug_env
    code = "import jug; s, ns = jug.init('jugfile.py'); jug.value(ns['t'])"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=jug_env(),
                       capture_output=True, text=True)
    assert p.returncode != 0 and "CorruptResult" in p.stderr and "truncated" in p.stderr


def test_jugdir_not_writable(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, GOOD)
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    p = run_jug("execute", jf, "--jugdir", blocker / "sub")
    assert p.returncode != 0
    assert "cannot create" in p.stderr and "jugdir" in p.stderr
    assert "Traceback" not in p.stderr
