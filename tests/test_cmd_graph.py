"""``jug graph``: dot text per task name with counts, pictures through Graphviz."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from support import CHAIN, IN_CI, ok, run_jug, write_jugfile


def test_dot_text_has_names_counts_and_edges(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd, "--target", "jugfile.pair")
    out = ok("graph", jf, "--jugdir", jd).stdout
    assert out.startswith("digraph jug {") and out.rstrip().endswith("}")
    assert '"jugfile.load" [label="jugfile.load\\n3 task(s): 3 finished", fillcolor=palegreen]' in out
    assert '"jugfile.pick" [label="jugfile.pick\\n3 task(s): 3 ready", fillcolor=khaki]' in out
    assert "3 task(s): 3 waiting" not in out.split('"jugfile.report" [')[0]
    assert '"jugfile.report" [label="jugfile.report\\n1 task(s): 1 waiting"' in out
    edges = {ln.strip() for ln in out.splitlines() if "->" in ln}
    assert edges == {'"jugfile.load" -> "jugfile.pair" [label=3];',
                     '"jugfile.pair" -> "jugfile.pick" [label=3];',  # through pair[i][0]
                     '"jugfile.pick" -> "jugfile.report" [label=3];'}
    assert "jugfile.other" in out  # a node without edges


def test_picture_with_dot(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        msg = "Graphviz 'dot' not installed (apt-get install graphviz)"
        if IN_CI:
            pytest.fail(msg + "; required in CI")
        pytest.skip(msg)
    jf = write_jugfile(tmp_path, CHAIN)
    svg = tmp_path / "g.svg"
    ok("graph", jf, "--jugdir", tmp_path / "d.jugdata", "--output", svg)
    text = svg.read_text()
    assert "<svg" in text and "jugfile.report" in text
    png = tmp_path / "g.png"
    ok("graph", jf, "--jugdir", tmp_path / "d.jugdata", "-o", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_dot_a_clear_error_and_dot_file_still_works(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python")
    env = {"PATH": str(bindir)}  # no 'dot' on this PATH
    p = run_jug("graph", jf, "--jugdir", tmp_path / "d", "-o", tmp_path / "g.png", env=env)
    assert p.returncode == 2 and "graphviz" in p.stderr and not (tmp_path / "g.png").exists()
    ok("graph", jf, "--jugdir", tmp_path / "d", "-o", tmp_path / "g.dot", env=env)
    assert (tmp_path / "g.dot").read_text().startswith("digraph jug {")


def test_failed_and_crashed_tasks_are_shown(tmp_path: Path) -> None:
    import socket
    import subprocess
    import time

    from jug.backends import select_store

    jf = write_jugfile(tmp_path, """
    from jug import TaskGenerator
    @TaskGenerator
    def boom(i):
        raise ValueError(i)
    @TaskGenerator
    def fine(i):
        return i
    t = boom(1)
    u = fine(2)
    """)
    jd = tmp_path / "d.jugdata"
    run_jug("execute", jf, "--jugdir", jd, "--target", "jugfile.boom")
    key = ok("shell", jf, "--jugdir", jd, "-c", "print(u.hash())").stdout.strip()
    gone = subprocess.Popen(["true"])
    gone.wait()
    select_store(str(jd)).lock(key, {"host": socket.gethostname(), "pid": gone.pid,
                                     "started": time.time(), "heartbeat": time.time()})
    out = ok("graph", jf, "--jugdir", jd).stdout
    assert '"jugfile.boom" [label="jugfile.boom\\n1 task(s): 1 failed", fillcolor=lightcoral]' in out
    assert '"jugfile.fine" [label="jugfile.fine\\n1 task(s): 1 crashed", fillcolor=orange]' in out


BIG = """
from jug import TaskGenerator

@TaskGenerator
def a(i):
    return i

@TaskGenerator
def b(x):
    return x

@TaskGenerator
def c(xs):
    return sum(xs)

total = c([b(a(i)) for i in range(5000)])
"""


def test_ten_thousand_tasks_collapse_by_name(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, BIG)
    p = ok("graph", jf, "--jugdir", tmp_path / "d", "--tasks", timeout=120)
    assert "10001 tasks: one node per task name" in p.stderr
    nodes = [ln for ln in p.stdout.splitlines() if "[label=" in ln and "->" not in ln]
    assert len(nodes) == 3
    assert '"jugfile.a" [label="jugfile.a\\n5000 task(s): 5000 ready"' in p.stdout
    assert '"jugfile.a" -> "jugfile.b" [label=5000];' in p.stdout
    if shutil.which("dot"):
        ok("graph", jf, "--jugdir", tmp_path / "d", "-o", tmp_path / "g.svg", timeout=120)
        assert "jugfile.c" in (tmp_path / "g.svg").read_text()


def test_tasks_draws_one_node_per_task_on_a_small_graph(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd, "--target", "jugfile.pair")
    out = ok("graph", jf, "--jugdir", jd, "--tasks").stdout
    nodes = [ln for ln in out.splitlines() if "[label=" in ln]
    edges = [ln for ln in out.splitlines() if "->" in ln]
    assert len(nodes) == 12 and len(edges) == 9  # load->pair, pair->pick, pick->report: 3 each
    assert sum("finished\", fillcolor=palegreen" in n for n in nodes) == 6
