"""Shared pytest set-up: the Redis fixtures plugin and a fresh jugdir fixture.

Helper functions live in ``support.py``: import them from there (sub-folders have their own
conftest.py, so ``from conftest import ...`` would be ambiguous).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["redis_fixture"]


@pytest.fixture
def jugdir(tmp_path: Path) -> Path:
    """A fresh jugdir path (not yet created)."""
    return tmp_path / "data.jugdata"
