"""Task NAMEs as users type them: full name, name without the module, or a prefix of either.

One matcher (jug.taskstate.match_names) serves --target, --only/--exclude, pools and
``jug status --traceback``; the help texts promise what it does (issue 21, item 10).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support import CHAIN, marks, ok, run_jug, status, write_jugfile

from jug.hpc.pool_settings import parse_pools
from jug.state.membership import assign, selection
from jug.state.taskstate import NAME_FORMS, match_names

IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
NAME = st.lists(IDENT, min_size=2, max_size=4).map(".".join)


def _forms(name: str, target: str) -> tuple[bool, bool, bool]:
    """(full name, name without a module, prefix of either) of ``name`` for ``target``."""
    parts = name.split(".")
    tails = [".".join(parts[i:]) for i in range(1, len(parts))]
    return (name == target, target in tails,
            any(t.startswith(target) for t in [name, *tails]))


@given(st.lists(NAME, min_size=1, max_size=8, unique=True), st.data())
def test_a_prefix_of_the_name_without_its_module_always_matches(names: list[str],
                                                                data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(names))
    func = name.rsplit(".", 1)[1]
    target = func[:data.draw(st.integers(1, len(func)))]
    got = match_names(names, target)
    assert got, (names, target)
    forms = {n: _forms(n, target) for n in names}
    assert all(any(forms[n]) for n in got)  # nothing the help does not promise
    assert got == [n for n in names if n in got]  # in the names' order
    if name not in got:  # only a more specific form may hide it
        assert all(forms[n][0] or forms[n][1] for n in got)


@given(st.lists(NAME, min_size=1, max_size=8, unique=True), st.data())
def test_the_most_specific_form_wins(names: list[str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(names))
    assert match_names(names, name) == [name]  # a full name: only that task
    tail = name.split(".", 1)[1]
    assert match_names(names, tail) == [n for n in names if n == tail or n.endswith("." + tail)]


def test_prefix_of_the_function_name_matches_in_every_command(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, CHAIN)
    jd = tmp_path / "d.jugdata"
    ok("execute", jf, "--jugdir", jd, "--target", "rep")  # report and what it needs
    ran = marks(tmp_path)
    assert ran.get("report") == 1 and not any(k.startswith("other") for k in ran)
    p = ok("invalidate", jf, "--jugdir", jd, "--target", "pic", "--dry-run")
    assert "jugfile.pick" in p.stdout and "jugfile.report" in p.stdout
    assert "jugfile.pair " not in p.stdout
    p = ok("execute", jf, "--jugdir", jd, "--only", "oth")
    assert status(jf, jd)["tasks"]["jugfile.other"]["finished"] == 2
    bad = run_jug("invalidate", jf, "--jugdir", jd, "--target", "zzz")
    assert bad.returncode == 1 and "no task is named 'zzz'" in bad.stderr


def test_pools_and_selection_use_the_same_forms() -> None:
    names = ["wf.prep", "wf.train", "wf.trainer", "wf.post"]
    pools = parse_pools({"gpu": {"tasks": ["tra"]}})
    assert assign(names, pools) == {"wf.prep": "default", "wf.train": "gpu",
                                    "wf.trainer": "gpu", "wf.post": "default"}
    assert selection(names, ["pr", "po"], []) == {"wf.prep", "wf.post"}
    assert selection(names, [], ["train"]) == {"wf.prep", "wf.trainer", "wf.post"}


def test_help_says_what_the_matcher_does() -> None:
    for cmd in ("execute", "invalidate"):
        text = " ".join(ok(cmd, "--help").stdout.split())
        assert NAME_FORMS in text, cmd
