"""Shared pytest set-up: the Redis fixtures plugin and a fresh jugdir fixture.

Helper functions live in ``support.py`` (import them from there: sub-folders have their own
conftest.py, so ``from conftest import ...`` would be ambiguous); they are re-exported here
for tests that load this file by path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import IN_CI, ROOT, jug_env, run_jug, start_jug, write_jugfile

pytest_plugins = ["redis_fixture"]

__all__ = ["IN_CI", "ROOT", "jug_env", "run_jug", "start_jug", "write_jugfile"]


@pytest.fixture
def jugdir(tmp_path: Path) -> Path:
    """A fresh jugdir path (not yet created)."""
    return tmp_path / "data.jugdata"
