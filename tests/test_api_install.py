"""A new user installs THIS project (not PyPI's unrelated Jug) and can see which jug runs."""

from __future__ import annotations

import re
from pathlib import Path

from support import ROOT, run_jug

import jug

READMES = [ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]
#: ``pip install jug`` (optionally with extras or a version): PyPI's Jug 2.x, no jug submit
PYPI_JUG = re.compile(r"pip3? install +(-[-\w]+ +)*['\"]?jug(\[[\w,]+\])?([=<>~!][^\s'\"]*)?['\"]?(\s|$)")


def test_version_says_which_jug_runs() -> None:
    p = run_jug("--version", check=True)
    line = p.stdout.strip()
    assert line.startswith(f"jug {jug.__version__} from ")
    assert str(Path(jug.__file__).resolve().parent) in line  # the checkout the tests run


def test_install_instructions_install_this_project() -> None:
    assert len(READMES) >= 4
    for readme in READMES:
        text = readme.read_text()
        bad = [m.group(0) for m in PYPI_JUG.finditer(text)]
        assert not bad, f"{readme.relative_to(ROOT)} tells users to install PyPI's jug: {bad}"
    for readme in READMES[1:]:
        if "install" in readme.read_text().lower():
            assert "pip install ../.." in readme.read_text(), readme
    assert "python -m pip install" in READMES[0].read_text()
