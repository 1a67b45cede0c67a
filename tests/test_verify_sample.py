"""What is verified when (issue 24): status reads listings only (``--verify`` reads every
result), a worker checks a random sample at start (``--verify-sample``), ``jug check
--verify`` finds the rest; a corrupt result is never used."""

from __future__ import annotations

import re
from pathlib import Path

from support import ok, run_jug, status, write_jugfile

from jug.backends import select_store
from jug.state.integrity import SAMPLE

JUGFILE = """
from jug import TaskGenerator

@TaskGenerator
def sq(i):
    return i * i

xs = [sq(i) for i in range({n})]
"""


def _garble_all(jd: Path) -> int:
    files = [p for p in (jd / "results").rglob("*") if p.is_file()]
    for f in files:
        f.write_bytes(b"not a result")
    return len(files)


def _found(stderr: str) -> int:
    return len(re.findall(r"is corrupt", stderr))


def test_status_reads_listings_and_verify_reads_every_result(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, JUGFILE.format(n=30)), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    assert _garble_all(jd) == 30
    plain = status(jf, jd)  # had it opened a result, it would have found it corrupt
    assert plain["total"]["finished"] == 30 and plain["corrupt"] == []
    checked = status(jf, jd, "--verify")
    assert checked["total"]["finished"] == 0 and len(checked["corrupt"]) == 30
    assert select_store(str(jd)).list()  # status --verify reports, it removes nothing


def test_a_start_checks_a_sample_and_check_verify_the_rest(tmp_path: Path) -> None:
    n = 3 * SAMPLE
    jf, jd = write_jugfile(tmp_path, JUGFILE.format(n=n)), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    _garble_all(jd)
    p = ok("execute", jf, "--jugdir", jd)
    assert _found(p.stderr) == SAMPLE  # every result is corrupt: the sample finds its size
    v = run_jug("check", "--verify", jf, "--jugdir", jd)
    assert v.returncode == 1 and v.stderr.count("corrupt result of task") == n - SAMPLE
    ok("execute", jf, "--jugdir", jd)
    assert ok("check", "--verify", jf, "--jugdir", jd).returncode == 0
    store = select_store(str(jd))
    assert sorted(store.load(h) for h in store.list()) == sorted(i * i for i in range(n))


def test_the_sample_size_is_an_option(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, JUGFILE.format(n=12)), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    for args, found in ((["--verify-sample", "0"], 0), (["--verify-limit", "5"], 5),
                        (["--verify-sample", "-1"], 12)):  # --verify-limit: the old name
        _garble_all(jd)
        p = ok("execute", jf, "--jugdir", jd, *args)
        assert _found(p.stderr) == found, args
        ok("execute", jf, "--jugdir", jd, "--verify-sample", "-1")  # repair all


LOADED = """
from jug import TaskGenerator

@TaskGenerator
def sq(i):
    return i * i

@TaskGenerator
def total(xs):
    return sum(xs)

xs = [sq(i) for i in range(40)]
t = total(xs)
"""


def test_a_corrupt_result_a_task_needs_is_recomputed_not_used(tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, LOADED), tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd, "--target", "sq")  # the inputs only
    _garble_all(jd)
    p = ok("execute", jf, "--jugdir", jd, "--verify-sample", "0")  # no check at start
    assert _found(p.stderr) == 40  # each found as the total loaded it
    store = select_store(str(jd))
    values = sorted(store.load(h) for h in store.list())  # every one intact again
    assert values == sorted([i * i for i in range(40)] + [sum(i * i for i in range(40))])
