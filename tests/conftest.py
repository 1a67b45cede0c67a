"""Shared pytest set-up: the Redis fixtures plugin, a fresh jugdir fixture, and the xdist groups.

Helper functions live in ``support.py``: import them from there (sub-folders have their own
conftest.py, so ``from conftest import ...`` would be ambiguous).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["redis_fixture"]

# Tests that share one machine-wide resource run one at a time, each group on one xdist
# worker (scripts/test.sh runs ``--dist loadgroup``): a real cluster is one per machine and
# its tests size arrays to its few CPUs; the fault storms each want both cores.  Everything
# else runs in parallel.  The first matching marker names the group.
SERIAL_GROUPS = ("slurm", "sge", "faults")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test that needs a shared resource into that resource's xdist group."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = next((g for g in SERIAL_GROUPS if item.get_closest_marker(g)
                      or f"{g}_cluster" in fixtures), None)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def jugdir(tmp_path: Path) -> Path:
    """A fresh jugdir path (not yet created)."""
    return tmp_path / "data.jugdata"
