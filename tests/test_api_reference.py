"""Documented behaviour of the Task API, checked against the reference (jug-api.txt)."""

from __future__ import annotations

import pytest

from jug import Task
from jug.backends.dict_store import DictStore
from jug.task import alltasks


def double(x: int) -> int:
    return 2 * x


@pytest.fixture
def store():
    """A fresh in-memory store, with the Task registry emptied before and after."""
    alltasks.clear()
    old = Task.store
    Task.store = DictStore()
    yield Task.store
    Task.store = old
    alltasks.clear()


def test_run_without_save_leaves_nothing_in_the_store(store) -> None:
    # reference: "save: if true, save the result to the store"
    t = Task(double, 4)
    after = Task(double, t)
    assert t.run(save=False) == 8
    assert not store.can_load(t.hash())
    assert not t.can_load() and not after.can_run()
    assert t.value() == 8  # the computed value is still returned to the caller
    assert t.run() == 8  # a saving run stores it
    assert t.can_load() and store.can_load(t.hash()) and after.can_run()
