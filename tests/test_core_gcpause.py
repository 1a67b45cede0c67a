"""jug.engine.gcpause: the cyclic GC is paused while a task graph is built, and the graph frozen."""

from __future__ import annotations

import gc

from jug.engine.gcpause import building_graph


def test_gc_is_paused_inside_and_the_graph_frozen_after() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with building_graph():
            assert not gc.isenabled()
            graph = [[i] for i in range(1000)]  # containers the collector would track
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(graph)
    finally:
        gc.unfreeze()


def test_gc_left_off_stays_off() -> None:
    gc.disable()
    try:
        with building_graph():
            pass
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
