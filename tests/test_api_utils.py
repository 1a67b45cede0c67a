"""jug.utils: CustomHash, timed_path, identity, cached_glob, sync_move through real jugfiles."""

from __future__ import annotations

import os
from pathlib import Path

from support import counts, execute, jug_eval, lines, logged_jugfile, status, write_jugfile

IMPORTS = """
import os
from jug import Task, TaskGenerator, value
from jug.utils import CustomHash, timed_path, identity, cached_glob, sync_move
from jug.hash import hash_one
"""


def logged(body: str) -> str:
    """A jugfile: IMPORTS, the ``log(word)`` side-effect helper, then ``body``."""
    return logged_jugfile(IMPORTS, body)


def test_custom_hash_hashes_with_function_and_passes_object(tmp_path: Path, jugdir: Path) -> None:
    (tmp_path / "key").write_text("v1")
    (tmp_path / "payload").write_text("apples")
    jf = write_jugfile(tmp_path, logged("""
    class Payload:
        def __init__(self, text):
            self.text = text

    def by_key(obj):
        # deliberately ignores obj's content: only the key file decides the hash
        with open(os.path.join(HERE, "key")) as f:
            return hash_one(f.read()).encode()

    @TaskGenerator
    def consume(p):
        log(f"consume-{type(p).__name__}-{p.text}")
        return p.text.upper()

    with open(os.path.join(HERE, "payload")) as f:
        payload = Payload(f.read())
    c = consume(CustomHash(payload, by_key))
    """))
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["consume-Payload-apples"]  # received obj, not the wrapper
    assert jug_eval(jf, jugdir, "out = value(ns['c'])") == "APPLES"
    # a different object with the same custom hash: nothing reruns (the custom hash is used)
    (tmp_path / "payload").write_text("pears")
    assert counts(status(jf, jugdir), "jugfile.consume")["finished"] == 1
    execute(jf, jugdir)
    assert len(lines(tmp_path / "log")) == 1
    # a different custom hash: the task is new and reruns
    (tmp_path / "key").write_text("v2")
    assert counts(status(jf, jugdir), "jugfile.consume")["ready"] == 1
    execute(jf, jugdir)
    assert lines(tmp_path / "log")[-1] == "consume-Payload-pears"


def test_timed_path_touch_or_change_reruns_dependents(tmp_path: Path, jugdir: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_text("hello")
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def read(path):
        assert isinstance(path, str), type(path)
        log("read")
        with open(path) as f:
            return f.read()

    @TaskGenerator
    def shout(text):
        log("shout")
        return text.upper()

    r = read(timed_path(os.path.join(HERE, "input.txt")))
    s = shout(r)
    """))
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["read", "shout"]
    execute(jf, jugdir)  # nothing changed: nothing reruns
    assert lines(tmp_path / "log") == ["read", "shout"]
    st = os.stat(data)
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touch
    st_json = status(jf, jugdir)
    assert counts(st_json, "jugfile.read")["ready"] == 1
    assert counts(st_json, "jugfile.shout")["waiting"] == 1  # dependents are invalidated too
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["read", "shout"] * 2
    data.write_text("hello, world")  # content and size change
    execute(jf, jugdir)
    assert lines(tmp_path / "log") == ["read", "shout"] * 3
    assert jug_eval(jf, jugdir, "out = value(ns['s'])") == "HELLO, WORLD"


def test_identity_is_a_task_with_the_same_value(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def pick(xs, i):
        log(f"pick-{i}")
        return xs[i]

    large = identity(list(range(100000)))
    picks = [pick(large, i * 1000) for i in range(5)]
    small = identity({"a": [1, 2], "b": None})
    """))
    st = status(jf, jugdir)
    assert counts(st, "jug.utils.identity")["ready"] == 2
    assert counts(st, "jugfile.pick")["waiting"] == 5
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir, """
    out = [value(ns['picks']), value(ns['small']), value(ns['large']) == list(range(100000)),
           ns['large'].name]
    """)
    assert out == [[0, 1000, 2000, 3000, 4000], {"a": [1, 2], "b": None}, True,
                   "jug.utils.identity"]


def test_cached_glob_is_sorted_and_cached(tmp_path: Path, jugdir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("c.txt", "a.txt", "b.txt", "skip.csv", "aa.txt"):
        (data / name).write_text(name)
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def size(path):
        return os.path.getsize(path)

    files = cached_glob(os.path.join(HERE, "data", "*.txt"))
    sizes = [size(f) for f in files]
    """))
    execute(jf, jugdir)
    out = jug_eval(jf, jugdir,
                   "out = [[os.path.basename(f) for f in ns['files']], value(ns['sizes'])]")
    assert out == [["a.txt", "aa.txt", "b.txt", "c.txt"], [5, 6, 5, 5]]
    (data / "0.txt").write_text("new")  # the glob result is cached: a new file is not seen
    out = jug_eval(jf, jugdir, "out = [os.path.basename(f) for f in ns['files']]")
    assert out == ["a.txt", "aa.txt", "b.txt", "c.txt"]
    assert counts(status(jf, jugdir), "jugfile.size")["finished"] == 4


def test_sync_move_in_a_task(tmp_path: Path, jugdir: Path) -> None:
    jf = write_jugfile(tmp_path, logged("""
    @TaskGenerator
    def produce(text):
        tmp = os.path.join(HERE, "out.tmp")
        dst = os.path.join(HERE, "out.txt")
        with open(tmp, "w") as f:
            f.write(text)
        sync_move(tmp, dst)
        return [os.path.exists(tmp), open(dst).read()]

    p = produce("payload")
    """))
    (tmp_path / "out.txt").write_text("old content is replaced")
    execute(jf, jugdir)
    assert (tmp_path / "out.txt").read_text() == "payload"
    assert not (tmp_path / "out.tmp").exists()
    assert jug_eval(jf, jugdir, "out = value(ns['p'])") == [False, "payload"]


def test_sync_move_direct(tmp_path: Path) -> None:
    from jug.utils import sync_move

    src, dst = tmp_path / "a", tmp_path / "sub" / "b"
    dst.parent.mkdir()
    src.write_bytes(b"x" * 1000)
    sync_move(src, dst)
    assert dst.read_bytes() == b"x" * 1000 and not src.exists()
    sync_move(str(dst), str(src))  # str paths too, and back
    assert src.exists() and not dst.exists()


def test_value_unwraps_custom_hash() -> None:
    from jug import value
    from jug.hash import hash_one
    from jug.utils import CustomHash, timed_path

    wrapped = CustomHash([1, 2], lambda obj: b"constant")
    assert value(wrapped) == [1, 2]
    assert value({"k": (wrapped,)}) == {"k": ([1, 2],)}
    assert hash_one(wrapped) == hash_one(CustomHash("other", lambda obj: b"constant"))
    assert hash_one(wrapped) != hash_one([1, 2])
    p = timed_path(__file__)
    assert value(p) == __file__
