"""jug.io: NoLoad, write_task_out, write_metadata, print_task_summary_table."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import yaml
from support import counts, execute, jug_eval, lines, logged_jugfile, status, write_jugfile

IMPORTS = """
import os
from jug import Task, TaskGenerator, value
from jug.io import NoLoad, write_task_out, write_metadata
"""


def logged(body: str) -> str:
    """A jugfile: IMPORTS, the ``log(word)`` side-effect helper, then ``body``."""
    return logged_jugfile(IMPORTS, body)


def test_noload_passes_the_noload_object(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def big(n):
        log("big")
        return list(range(n))

    @TaskGenerator
    def inspect(arg):
        # receives the NoLoad itself (reference: attributes base, f, t), not the value
        log(f"inspect-{type(arg).__name__}")
        assert arg.t is arg.base and arg.f is None
        return [arg.base.name, arg.base.hash(), arg.can_load(), len(value(arg.base))]

    b = big(1000)
    i = inspect(NoLoad(b))
    """))
    st = status(jf, jugdir)
    assert counts(st, "jugfile.inspect")["waiting"] == 1  # NoLoad is a real dependency
    assert counts(st, "jugfile.big")["ready"] == 1
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["big", "inspect-NoLoad"]
    out = jug_eval(jf, jugdir, "out = [value(ns['i']), ns['b'].hash()]")
    assert out[0] == ["jugfile.big", out[1], True, 1000]


def test_noload_hash_follows_base(tmp_path: Path, jugdir: Path) -> None:
    src = logged("""
    @TaskGenerator
    def base(n):
        return n

    @TaskGenerator
    def name_of(t):
        log("name_of")
        return value(t.base)

    r = name_of(NoLoad(base(N)))
    """)
    jf = write_jugfile(tmp_path, src.replace("N)", "1)"))
    execute(jf, jugdir)
    jf.write_text(src.replace("N)", "2)"))
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["name_of", "name_of"]
    assert jug_eval(jf, jugdir, "out = value(ns['r'])") == 2


def _iso_ok(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def test_write_task_out_with_yaml_and_json_metadata(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def source(n):
        return n * 3

    @TaskGenerator
    def compute(x, scale=1):
        return f"result={x * scale}"

    @TaskGenerator
    def numbers(n):
        return {"n": n, "values": list(range(n))}

    s = source(4)
    c = compute(s, scale=2)
    w = write_task_out(c, os.path.join(HERE, "out.txt"), os.path.join(HERE, "meta.yaml"))
    nums = numbers(3)
    write_task_out(nums, os.path.join(HERE, "out.json"),
                   metadata_fname=os.path.join(HERE, "meta.json"), metadata_format="json")
    """))
    st = status(jf, jugdir)
    assert counts(st, "jug.io._write_task_out")["waiting"] == 2
    assert counts(st, "jug.io._write_metadata")["waiting"] == 2
    assert not (tmp_path / "out.txt").exists()
    execute(jf, jugdir)
    assert (tmp_path / "out.txt").read_text() == "result=24"
    assert json.loads((tmp_path / "out.json").read_text()) == {"n": 3, "values": [0, 1, 2]}
    hashes = jug_eval(jf, jugdir, "out = {k: ns[k].hash() for k in ('s', 'c', 'nums')}")
    meta = yaml.safe_load((tmp_path / "meta.yaml").read_text())
    assert meta["name"] == "jugfile.compute"
    assert meta["hash"] == hashes["c"]
    assert meta["dependencies"] == [{"name": "jugfile.source", "hash": hashes["s"]}]
    assert meta["kwargs"] == {"scale": 2}
    assert meta["args"] == [{"task": "jugfile.source", "hash": hashes["s"]}]
    ran = _iso_ok(meta["ran_at"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - ran).total_seconds()) < 300
    jmeta = json.loads((tmp_path / "meta.json").read_text())
    assert jmeta["name"] == "jugfile.numbers" and jmeta["hash"] == hashes["nums"]
    assert jmeta["dependencies"] == [] and jmeta["args"] == [3]
    _iso_ok(jmeta["ran_at"])
    assert jug_eval(jf, jugdir, "out = value(ns['w'])") == str(tmp_path / "out.txt")


def test_write_task_out_numpy_pickle_and_tasklets(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    import numpy as np
    from jug import mapreduce

    @TaskGenerator
    def arr(n):
        return np.arange(n, dtype=np.float64) / 2

    @TaskGenerator
    def pair():
        return ({"a": 1}, b"raw bytes")

    def sq(x):
        return x * x

    a = arr(6)
    write_task_out(a, os.path.join(HERE, "a.npy"))
    p = pair()
    write_task_out(p[0], os.path.join(HERE, "p.pkl"), os.path.join(HERE, "p.yaml"))
    write_task_out(p[1], os.path.join(HERE, "raw.bin"))
    m = mapreduce.map(sq, range(5), map_step=2)
    write_metadata(m, os.path.join(HERE, "m.json"), "json")
    """))
    execute(jf, jugdir)
    import pickle

    import numpy as np

    assert np.array_equal(np.load(tmp_path / "a.npy"), np.arange(6) / 2)
    assert pickle.loads((tmp_path / "p.pkl").read_bytes()) == {"a": 1}
    assert pickle.loads((tmp_path / "raw.bin").read_bytes()) == b"raw bytes"  # no known ext
    hashes = jug_eval(jf, jugdir, "out = [ns['p'].hash(), ns['p'][0].hash()]")
    pmeta = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert pmeta["name"] == "jugfile.pair[0]" and pmeta["hash"] == hashes[1]
    assert pmeta["dependencies"] == [{"name": "jugfile.pair", "hash": hashes[0]}]
    mmeta = json.loads((tmp_path / "m.json").read_text())
    assert len(mmeta["dependencies"]) == 5
    assert all(d["name"].startswith("jug.mapreduce._jug_map[") for d in mmeta["dependencies"])
    assert not list(tmp_path.glob(".jug-tmp-*"))  # atomic writes leave no temporary files


def test_write_metadata_rejects_unknown_format(tmp_path: Path) -> None:
    from jug.io import write_metadata
    from jug.task import alltasks

    n = len(alltasks)
    try:
        try:
            write_metadata(1, tmp_path / "m.xml", "xml")
        except ValueError as e:
            assert "yaml" in str(e) and "json" in str(e)
        else:
            raise AssertionError("an unknown metadata format must raise")
    finally:
        del alltasks[n:]


def test_print_task_summary_table(capsys) -> None:
    from collections import Counter

    from jug.io import print_task_summary_table

    class Options:
        def __init__(self) -> None:
            self.printed: list[str] = []

        def print_out(self, text: str) -> None:
            self.printed.append(text)

    groups = [("Waiting", Counter({"jugfile.b": 2})),
              ("Ready", {"jugfile.a": 3, "jugfile.b": 1}),
              ("Finished", [("jugfile.a", 7)])]
    opts = Options()
    text = print_task_summary_table(opts, groups)
    assert opts.printed == [text]
    rows = text.splitlines()
    assert rows[0].split() == ["Waiting", "Ready", "Finished", "Task", "name"]
    assert rows[2].split() == ["0", "3", "7", "jugfile.a"]
    assert rows[3].split() == ["2", "1", "0", "jugfile.b"]
    assert rows[-1].split() == ["2", "4", "7", "Total"]
    # options without print_out: printed to stdout
    print_task_summary_table(None, [("Invalidated", {"jugfile.x": 5})])
    out = capsys.readouterr().out
    assert "Invalidated" in out and "jugfile.x" in out and "5" in out


def test_write_task_out_array_under_csv_name_and_numpy_arguments(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    import numpy as np

    @TaskGenerator
    def table(scale, base):
        return base * scale

    t = table(np.float64(2.0), np.arange(6, dtype=np.float64).reshape(3, 2))
    write_task_out(t, os.path.join(HERE, "t.csv"), os.path.join(HERE, "t.yaml"))
    """))
    execute(jf, jugdir)
    import numpy as np

    got = np.load(tmp_path / "t.csv")  # arrays: .npy format whatever the name (as Jug)
    assert np.array_equal(got, np.arange(6).reshape(3, 2) * 2.0)  # full table, not str() of it
    meta = yaml.safe_load((tmp_path / "t.yaml").read_text())
    assert meta["args"][0] == 2.0
    assert "shape=(3, 2)" in meta["args"][1]


def test_write_task_out_is_never_lossy(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    import numpy as np

    @TaskGenerator
    def big(n):
        return np.arange(n, dtype=np.float64) / 3

    @TaskGenerator
    def record(n):
        return {n: "int key", "nested": (1, 2.5, None)}

    @TaskGenerator
    def text(n):
        return "line\\n" * n

    b = big(5000)
    r = record(1)
    for name in ("b.out", "b.txt", "b.csv"):  # arrays: .npy format whatever the name
        write_task_out(b, os.path.join(HERE, name))
    write_task_out(r, os.path.join(HERE, "r.dat"))  # no known extension: pickle
    write_task_out(text(2), os.path.join(HERE, "t.txt"))  # a str as text, as is
    write_task_out(r, os.path.join(HERE, "r.txt"))  # not a str: cannot be text
    write_task_out(r, os.path.join(HERE, "r.json"))  # int key: JSON would make it "1"
    write_task_out(r, os.path.join(HERE, "r.npy"))  # a dict is no array data
    """))
    p = execute(jf, jugdir, "--keep-going", check=False)
    assert p.returncode != 0
    import pickle

    import numpy as np

    for name in ("b.out", "b.txt", "b.csv"):
        assert np.array_equal(np.load(tmp_path / name), np.arange(5000) / 3)
    assert pickle.loads((tmp_path / "r.dat").read_bytes()) == {1: "int key",
                                                               "nested": (1, 2.5, None)}
    assert (tmp_path / "t.txt").read_text() == "line\nline\n"
    for name, fmt, task in (("r.txt", "text", "record"), ("r.json", "JSON", "record"),
                            ("r.npy", ".npy", "record")):
        assert not (tmp_path / name).exists()
        line = next(x for x in p.stderr.splitlines() if name in x and "Error" in x)
        assert f"jugfile.{task}" in line and fmt in line, line
    assert not list(tmp_path.glob(".jug-tmp-*"))
