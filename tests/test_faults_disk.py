"""A store on a small tmpfs that fills up, and on a read-only remount (issue 11, items 4 and 6).

A store fault is not a task fault: one clear line, exit 2, the lock released, no failure
mark, and the task runs again once the store works."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from faults_support import Figures, mount_tmpfs, remount, require_root, umount
from support import error_lines, ok, run_jug, write_jugfile

from jug.backends import select_store

pytestmark = pytest.mark.faults

BIG = """
import os
from jug import TaskGenerator

@TaskGenerator
def blob(i):
    return os.urandom(150_000)  # incompressible

@TaskGenerator
def size(b):
    return len(b)

blobs = [blob(i) for i in range(12)]
sizes = [size(b) for b in blobs]
"""


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    require_root()
    where = tmp_path / "mnt"
    mount_tmpfs(where, "1m")
    try:
        yield where
    finally:
        umount(where)




def _leftovers(jd: Path) -> list[str]:
    return [n for _r, _d, files in os.walk(jd) for n in files if n.startswith(".tmp.")]


def test_disk_full_while_saving_is_a_store_fault(tmpfs: Path, tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, BIG), tmpfs / "d.jugdata"
    p = run_jug("execute", jf, "--jugdir", jd)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "no space left on the device" in p.stderr and "not marked failed" in p.stderr
    store = select_store(str(jd))
    assert store.list_failed() == {} and store.list_locks() == {} and _leftovers(jd) == []
    saved = len(list(store.list()))
    remount(tmpfs, "size=16m")
    ok("execute", jf, "--jugdir", jd)
    assert ok("check", jf, "--jugdir", jd).returncode == 0
    fig = Figures("disk full while saving", 24, faults=1)
    fig.extra["results saved before the disk filled"] = saved
    fig.show()
    assert 0 < saved < 24


def test_disk_full_while_locking_leaves_no_empty_lock(tmpfs: Path, tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, BIG.replace("range(12)", "range(2)")), tmpfs / "d.jugdata"
    ok("execute", "--target", "blob", jf, "--jugdir", jd)
    fd = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill every last page
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    p = run_jug("execute", jf, "--jugdir", jd)
    assert p.returncode == 2 and "no space left on the device" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert os.listdir(jd / "locks") == []  # the lock whose record could not be written is gone
    (tmpfs / "filler").unlink()
    ok("execute", jf, "--jugdir", jd)


def test_read_only_jugdir_gives_one_clear_line(tmpfs: Path, tmp_path: Path) -> None:
    jf, jd = write_jugfile(tmp_path, BIG.replace("range(12)", "range(2)")), tmpfs / "d.jugdata"
    ok("execute", jf, "--jugdir", jd)
    ok("invalidate", "--target", "size", jf, "--jugdir", jd)
    remount(tmpfs, "ro")
    try:
        for args in (("execute",), ("invalidate", "--target", "blob"), ("cleanup",),
                     ("cleanup", "--stale"), ("check", "--verify")):
            p = run_jug(*args, jf, "--jugdir", jd)
            lines = error_lines(p.stderr)
            if args[0] in ("cleanup", "check"):  # nothing to write: they work
                assert p.returncode in (0, 1) and "Traceback" not in p.stderr, (args, p.stderr)
                continue
            assert p.returncode == 2 and len(lines) == 1, (args, p.stderr)
            assert "the file system is read-only (use a writable jugdir" in lines[0]
        ok("status", jf, "--jugdir", jd)
    finally:
        remount(tmpfs, "rw")
    ok("execute", jf, "--jugdir", jd)
    assert ok("check", jf, "--jugdir", jd).returncode == 0
