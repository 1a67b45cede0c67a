"""Damaged results (issue 11, item 5 and "The suite"): torn, zeroed and flipped results on the
file store and on Redis are detected, reported and recomputed, never loaded.

Where each is found (issue 24: a start no longer opens every result): a result some task
loads is checked there; ``jug execute`` checks a random sample at start; ``jug check
--verify`` finds the rest.  Each damaged result is found exactly once, by one of the three.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from faults_support import Figures, check_values, counted_jugfile, executions
from support import make_jugdir, ok, run_jug

from jug.backends import select_store
from jug.jugfile import load

pytestmark = pytest.mark.faults
KINDS = ["file", pytest.param("redis", marks=pytest.mark.redis)]
HOWS = ("torn", "zeroed", "flipped")

FINALS = """
@TaskGenerator
def plus(x):
    return x + 1

finals = [plus(x) for x in xs]
"""


def _damage_bytes(data: bytes, how: str, skip: int) -> bytes:
    """``data`` torn in half, zeroed (same length) or with one bit flipped (after ``skip``)."""
    if how == "torn":
        return data[:max(skip, len(data) // 2)]
    if how == "zeroed":
        return bytes(len(data))
    out = bytearray(data)
    out[-1] ^= 0x01
    return bytes(out)


def damage(store, key: str, how: str) -> None:
    """Damage the stored result of ``key`` in place, the way a crash or a bad disk would."""
    if hasattr(store, "_rkey"):  # Redis: the payload chunk of the result hash
        client, rkey = store._r, store._rkey(key)
        client.hset(rkey, "0", _damage_bytes(client.hget(rkey, "0"), how, 0))
        return
    path = Path(store.result_path(key))
    path.write_bytes(_damage_bytes(path.read_bytes(), how, 0))


@pytest.mark.parametrize("kind", KINDS)
def test_torn_zeroed_flipped_results_are_recomputed(kind: str, request: pytest.FixtureRequest,
                                                     tmp_path: Path) -> None:
    n = 60
    jf, log = counted_jugfile(tmp_path, n)
    jf.write_text(jf.read_text() + FINALS)
    jugdir = make_jugdir(kind, request, tmp_path)
    ok("execute", jf, "--jugdir", jugdir)
    store = select_store(jugdir)
    tasks = load(str(jf), store).tasks
    work = [t for t in tasks if t.name == "jugfile.work"]
    rng = random.Random(5)
    damaged = {t.args[0]: HOWS[k % 3] for k, t in enumerate(rng.sample(work, 30))}
    for t in work:
        if t.args[0] in damaged:
            damage(store, t.hash(), damaged[t.args[0]])
    plus = [t for t in tasks if t.name == "jugfile.plus"]
    finals = rng.sample(plus, 6)
    for t in finals:  # results nothing depends on
        damage(store, t.hash(), "flipped")
    # tasks that need a damaged result run again: it is found where it is loaded
    needing = [t for t in plus if t not in finals and t.args[0].args[0] in damaged][:5]
    for t in needing:
        store.remove(t.hash())
    first = len(executions(log))
    p = ok("execute", jf, "--jugdir", jugdir)
    found = len(re.findall(r"is corrupt", p.stderr))
    for t in needing:  # loaded, so found (by the load or by the sample before it)
        assert t.args[0].hash()[2:] in p.stderr or t.args[0].hash() in p.stderr
    v = run_jug("check", "--verify", jf, "--jugdir", jugdir)  # the full scan finds the rest
    found += v.stderr.count("corrupt result of task")
    print(f"\n[faults] found by execute (loads and its start's sample): "
          f"{len(re.findall(r'is corrupt', p.stderr))}, by check --verify: "
          f"{v.stderr.count('corrupt result of task')}")
    assert (v.returncode == 1) == (found > len(re.findall(r"is corrupt", p.stderr)))
    ok("execute", jf, "--jugdir", jugdir)
    assert ok("check", "--verify", jf, "--jugdir", jugdir).returncode == 0
    reran = [i for i, _pid in executions(log)[first:]]
    fig = Figures(f"torn/zeroed/flipped results, {kind}", n * 2, faults=36, corruptions=found)
    fig.runs, fig.reruns = first + len(reran), len(reran)
    fig.explained = len([i for i in reran if i in damaged])
    fig.duplicates = fig.reruns - fig.explained
    check_values(fig, store, jf)
    fig.check()
    assert sorted(reran) == sorted(damaged) and found == 36
