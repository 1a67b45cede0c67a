"""The resubmit loop's sizing decision: a pure function over task counts and queue states."""

from __future__ import annotations

import pytest

from jug.hpc import sizing
from jug.hpc.sizing import (
    ArrayState,
    Limits,
    TaskCounts,
    analyse,
    decide,
    split_sizes,
    workers_wanted,
)

HOUR = 3600.0


def lim(n: int = 10, **kw) -> Limits:
    """Limits with ``n`` max workers."""
    return Limits(max_workers=n, **kw)


# -- helpers -------------------------------------------------------------------------------
@pytest.mark.parametrize("total,limit,expected", [
    (0, None, []), (5, None, [5]), (5, 10, [5]), (10, 10, [10]), (25, 10, [10, 10, 5]),
    (20, 10, [10, 10]), (3, 1, [1, 1, 1]),
])
def test_split_sizes(total: int, limit: int | None, expected: list[int]) -> None:
    assert split_sizes(total, limit) == expected


def test_array_state_throttle_arithmetic() -> None:
    a = ArrayState("1", pending=8, running=2, throttle=4)
    assert (a.startable, a.held, a.alive) == (2, 6, 10)
    assert ArrayState("1", pending=8, running=5, throttle=4).startable == 0
    assert ArrayState("1", pending=3, running=1).startable == 3  # no throttle
    assert ArrayState("1", pending=3, running=1, throttle=0).startable == 3  # 0 = none


# -- workers wanted ----------------------------------------------------------------------
@pytest.mark.parametrize("counts,cap,expected", [
    (TaskCounts(ready=100), 10, 10),  # capped by max-workers
    (TaskCounts(ready=3), 10, 3),
    (TaskCounts(ready=100, task_seconds=60.0), 64, 64),  # short tasks: still all in parallel
    (TaskCounts(ready=0, running=4), 10, 4),  # running tasks keep their workers
    (TaskCounts(ready=1, running=4, task_seconds=1.0), 10, 5),
    (TaskCounts(ready=2, waiting=50, soon=5), 100, 5),  # fan-out beyond the width
    (TaskCounts(ready=6, waiting=1, soon=1), 100, 6),  # map -> reduce: no extra worker
    (TaskCounts(running=1, waiting=1, soon=1), 100, 1),  # long map, then its reduce
    (TaskCounts(ready=100, waiting=100, soon=100), 500, 100),  # pipeline a_i -> b_i
    (TaskCounts(running=1, waiting=100, soon=100), 500, 100),  # setup -> 100 tasks
    (TaskCounts(ready=2, waiting=30, soon=30, soon_peak=10), 500, 10),  # widest level
    (TaskCounts(ready=5, too_long=5), 10, 0),  # nobody can start them
    (TaskCounts(ready=5, too_long=2), 10, 3),
    (TaskCounts(crashed=2, ready=1), 10, 3),  # crashed tasks are reclaimed and run again
    (TaskCounts(finished=9), 10, 0),
    (TaskCounts(ready=7, running=3), 1, 1),
])
def test_workers_wanted(counts: TaskCounts, cap: int, expected: int) -> None:
    assert workers_wanted(counts, cap) == expected


# -- decide: growing ---------------------------------------------------------------------
def test_first_poll_submits_one_array_for_the_ready_tasks() -> None:
    d = decide(TaskCounts(ready=12), [], HOUR, lim(4))
    assert d.action == sizing.SUBMIT and d.submit == [4] and d.exit_code is None
    assert "max-workers 4" in d.reason


def test_pending_workers_count_as_supply() -> None:
    d = decide(TaskCounts(ready=12), [ArrayState("7", pending=4)], HOUR, lim(4))
    assert d.action == sizing.KEEP and not d.submit and not d.throttle and not d.cancel_pending


def test_only_the_difference_is_submitted() -> None:
    arrays = [ArrayState("7", running=2), ArrayState("8", pending=1)]
    d = decide(TaskCounts(ready=20, running=2), arrays, HOUR, lim(8))
    assert d.submit == [5] and d.wanted == 8 and d.supply == 3


def test_walltime_expiry_resubmits() -> None:
    # the workers of the first array reached their walltime and left the queue
    d = decide(TaskCounts(ready=6, finished=6, task_seconds=5.0), [], 20.0, lim(2))
    assert d.action == sizing.SUBMIT and d.submit == [2]


def test_new_arrays_respect_the_array_size_limit() -> None:
    d = decide(TaskCounts(ready=100), [], HOUR, lim(25, max_array_size=10))
    assert d.submit == [10, 10, 5] and d.new_workers == 25


def test_max_queued_caps_new_elements() -> None:
    arrays = [ArrayState("1", pending=3, running=2)]
    d = decide(TaskCounts(ready=50, running=2), arrays, HOUR, lim(20, max_queued=8))
    assert d.submit == [3] and "max-queued 8" in d.reason


def test_max_queued_reached_submits_nothing() -> None:
    arrays = [ArrayState("1", pending=6, running=2, throttle=2)]  # 6 held count as queued
    d = decide(TaskCounts(ready=50, running=2), arrays, HOUR, lim(20, max_queued=8,
                                                                   can_throttle=False))
    assert d.action == sizing.KEEP and d.submit == []


def test_raises_the_throttle_before_submitting() -> None:
    arrays = [ArrayState("1", pending=6, running=2, throttle=2, submitted=1.0)]
    d = decide(TaskCounts(ready=20, running=2), arrays, HOUR, lim(5))
    assert d.throttle == {"1": 5} and d.submit == [] and d.action == sizing.SUBMIT
    d = decide(TaskCounts(ready=20, running=2), arrays, HOUR, lim(12))
    assert d.throttle == {"1": 8} and d.submit == [4]  # all 6 held released, then 4 new


def test_no_throttle_support_means_a_new_array() -> None:
    arrays = [ArrayState("1", pending=6, running=2, throttle=2)]
    d = decide(TaskCounts(ready=20, running=2), arrays, HOUR, lim(5, can_throttle=False))
    assert d.throttle == {} and d.submit == [3]


# -- decide: shrinking -------------------------------------------------------------------
def test_map_reduce_only_the_reduce_left_cancels_pending_workers() -> None:
    arrays = [ArrayState("1", pending=0, running=1, submitted=1.0),
              ArrayState("2", pending=5, running=2, submitted=2.0)]
    d = decide(TaskCounts(running=1, finished=40), arrays, HOUR, lim(8))
    assert d.action == sizing.SHRINK and d.cancel_pending == ["2"] and d.submit == []
    assert d.wanted == 1


def test_reduce_ready_after_map_keeps_one_worker() -> None:
    arrays = [ArrayState("2", pending=5, running=0)]
    d = decide(TaskCounts(ready=1, finished=40), arrays, HOUR, lim(8))
    assert d.wanted == 1 and d.action == sizing.SHRINK
    assert d.throttle == {"2": 1} and d.cancel_pending == []  # keep one, hold four


def test_partial_surplus_without_throttle_cancels_nothing() -> None:
    arrays = [ArrayState("2", pending=5, running=0)]
    d = decide(TaskCounts(ready=1, finished=40), arrays, HOUR, lim(8, can_throttle=False))
    assert d.action == sizing.KEEP and not d.cancel_pending and "exit when idle" in d.reason


def test_newest_array_shrinks_first() -> None:
    arrays = [ArrayState("old", pending=3, submitted=1.0), ArrayState("new", pending=3,
                                                                      submitted=2.0)]
    d = decide(TaskCounts(ready=3), arrays, HOUR, lim(10))
    assert d.cancel_pending == ["new"] and d.throttle == {}


def test_surplus_of_running_workers_is_left_alone() -> None:
    d = decide(TaskCounts(ready=0, running=1), [ArrayState("1", running=4)], HOUR, lim(8))
    assert d.action == sizing.KEEP and not d.cancel_pending and not d.throttle


def test_short_tasks_still_use_every_worker() -> None:
    arrays = [ArrayState("1", pending=10)]
    d = decide(TaskCounts(ready=30, task_seconds=10.0), arrays, 300.0, lim(10))
    assert d.wanted == 10 and d.action == sizing.KEEP


# -- decide: endings ---------------------------------------------------------------------
def test_all_finished_exits_zero_and_cancels_leftover_pending() -> None:
    d = decide(TaskCounts(finished=12), [ArrayState("1", pending=2)], HOUR, lim())
    assert d.action == sizing.DONE and d.exit_code == 0 and d.cancel_pending == ["1"]


def test_only_failed_left_exits_non_zero() -> None:
    d = decide(TaskCounts(finished=10, failed=2), [], HOUR, lim())
    assert d.action == sizing.FAILED and d.exit_code == 1


def test_failed_with_blocked_dependents_exits_non_zero() -> None:
    d = decide(TaskCounts(finished=10, failed=1, waiting=3, blocked=3), [], HOUR, lim())
    assert d.action == sizing.FAILED and d.exit_code == 1 and "3 task(s) that need them" in d.reason


def test_failed_but_other_work_left_continues() -> None:
    d = decide(TaskCounts(ready=2, failed=1, waiting=3, blocked=3), [], HOUR, lim())
    assert d.exit_code is None and d.submit == [2]
    d = decide(TaskCounts(running=1, failed=1), [ArrayState("1", running=1)], HOUR, lim())
    assert d.exit_code is None


def test_barrier_with_nothing_left_waits_for_the_reload() -> None:
    d = decide(TaskCounts(finished=5, incomplete=True), [], HOUR, lim())
    assert d.exit_code is None and d.submit == []


def test_tasks_longer_than_the_budget_are_stuck() -> None:
    d = decide(TaskCounts(ready=2, too_long=2, finished=3), [], 600.0, lim())
    assert d.action == sizing.STUCK and d.exit_code == sizing.EXIT_STUCK
    assert "--walltime" in d.reason


def test_some_too_long_tasks_do_not_block_the_others() -> None:
    d = decide(TaskCounts(ready=5, too_long=2), [], 600.0, lim())
    assert d.exit_code is None and d.submit == [3]


def test_crashed_tasks_count_as_runnable() -> None:
    d = decide(TaskCounts(crashed=2, finished=3), [], HOUR, lim())
    assert d.submit == [2]


# -- decide: drain -----------------------------------------------------------------------
def test_drain_cancels_pending_and_waits_for_running() -> None:
    arrays = [ArrayState("1", pending=3, running=2)]
    d = decide(TaskCounts(ready=20, running=2), arrays, HOUR, lim(10, draining=True))
    assert d.action == sizing.DRAIN and d.cancel_pending == ["1"] and d.submit == []
    assert d.exit_code is None


def test_drain_ends_when_no_worker_runs() -> None:
    d = decide(TaskCounts(ready=20), [ArrayState("1", pending=1)], HOUR, lim(10, draining=True))
    assert d.action == sizing.DRAINED and d.exit_code == sizing.EXIT_DRAINED
    assert d.cancel_pending == ["1"]


def test_drain_wins_over_done() -> None:
    d = decide(TaskCounts(finished=3), [], HOUR, lim(draining=True))
    assert d.action == sizing.DRAINED


def test_decide_is_pure() -> None:
    arrays = [ArrayState("1", pending=6, running=2, throttle=2)]
    counts = TaskCounts(ready=20, running=2)
    assert decide(counts, arrays, HOUR, lim(5)) == decide(counts, arrays, HOUR, lim(5))
    assert arrays[0].throttle == 2


# -- analyse: the dependency structure ---------------------------------------------------
def graph(states: dict[str, str], deps: dict[str, list[str]], typ: dict[str, float] | None = None,
          budget: float = HOUR) -> TaskCounts:
    """analyse() where each task's name is its hash."""
    typ = typ or {}
    return analyse(list(states), states, deps, {h: h for h in states}, typ.get, budget)


def test_analyse_map_reduce() -> None:
    states = {f"m{i}": "ready" for i in range(4)}
    states["r"] = "waiting"
    c = graph(states, {"r": [f"m{i}" for i in range(4)]})
    assert (c.ready, c.waiting, c.soon, c.soon_peak, c.blocked) == (4, 1, 1, 1, 0)
    assert workers_wanted(c, 10) == 4
    states.update({"m0": "finished", "m1": "running", "m2": "crashed"})
    c = graph(states, {"r": [f"m{i}" for i in range(4)]})
    assert (c.ready, c.running, c.crashed, c.soon, c.runnable) == (1, 1, 1, 1, 2)


def test_analyse_two_levels_down_is_not_soon() -> None:
    states = {"a": "ready", "b": "waiting", "c": "waiting"}
    c = graph(states, {"b": ["a"], "c": ["b"]})
    assert c.soon == 1  # b only; c needs b, which is waiting


def test_analyse_dependency_longer_than_the_budget_is_not_soon() -> None:
    states = {"a": "running", "b": "waiting"}
    assert graph(states, {"b": ["a"]}, {"a": 500.0}, budget=100.0).soon == 0
    assert graph(states, {"b": ["a"]}, {"a": 50.0}, budget=100.0).soon == 1


def test_analyse_blocked_by_failures_transitively() -> None:
    states = {"a": "failed", "b": "waiting", "c": "waiting", "d": "ready"}
    c = graph(states, {"b": ["a"], "c": ["b"]})
    assert (c.failed, c.blocked, c.soon, c.ready) == (1, 2, 0, 1)


def test_analyse_too_long_and_task_seconds() -> None:
    states = {"a": "ready", "b": "ready", "c": "ready"}
    c = analyse(["a", "b", "c"], states, {}, {"a": "long", "b": "short", "c": "short"},
                {"long": 900.0, "short": 10.0}.get, 600.0)
    assert c.too_long == 1 and c.task_seconds == 10.0
    c = analyse(["a"], {"a": "ready"}, {}, {"a": "x"}, lambda n: None, 600.0)
    assert c.task_seconds is None and c.too_long == 0


def test_analyse_nothing_after_a_too_long_task_is_soon() -> None:
    c = analyse(["a", "b"], {"a": "ready", "b": "waiting"}, {"b": ["a"]},
                {"a": "long", "b": "short"}, {"long": 900.0, "short": 1.0}.get, 600.0)
    assert c.too_long == 1 and c.soon == 0


def test_analyse_chains_with_known_durations_look_deeper() -> None:
    states = {"a": "running", "b": "waiting", "c": "waiting", "d": "waiting"}
    deps = {"b": ["a"], "c": ["b"], "d": ["c"]}
    c = graph(states, deps, {"a": 100.0, "b": 100.0, "c": 100.0, "d": 100.0}, budget=250.0)
    assert c.soon == 2 and c.soon_peak == 1  # b at 100 s, c at 200 s; d only at 300 s
    assert workers_wanted(c, 10) == 1  # a chain needs one worker
    c = graph(states, deps, budget=250.0)  # no recorded times: one level deep only
    assert c.soon == 1


def test_analyse_soon_levels_fan_out() -> None:
    states = {"s": "running", **{f"x{i}": "waiting" for i in range(8)},
              **{f"y{i}": "waiting" for i in range(8)}}
    deps = {**{f"x{i}": ["s"] for i in range(8)}, **{f"y{i}": [f"x{i}"] for i in range(8)}}
    c = graph(states, deps, {"s": 10.0, **{f"x{i}": 10.0 for i in range(8)}}, budget=600.0)
    assert (c.soon, c.soon_peak) == (16, 8)
    assert workers_wanted(c, 100) == 8


def test_analyse_feeds_decide_for_a_barrier() -> None:
    c = analyse(["a"], {"a": "finished"}, {}, {"a": "a"}, lambda n: None, HOUR, incomplete=True)
    assert c.incomplete and decide(c, [], HOUR, lim()).exit_code is None


def test_idle_running_workers_stop_when_only_the_reduce_runs() -> None:
    arrays = [ArrayState("1", running=2, idle=1, submitted=1.0),
              ArrayState("2", running=3, idle=3, submitted=2.0)]
    d = decide(TaskCounts(running=1, finished=40), arrays, HOUR, lim(8))
    assert d.action == sizing.SHRINK and d.cancel_idle == {"2": 3, "1": 1}
    assert "idle" in d.reason


def test_idle_workers_are_kept_while_tasks_are_ready() -> None:
    arrays = [ArrayState("1", running=4, idle=3)]
    d = decide(TaskCounts(ready=1, running=1, task_seconds=1.0), arrays, HOUR, lim(8))
    assert d.cancel_idle == {} and d.action == sizing.KEEP
    d = decide(TaskCounts(running=1, waiting=1, soon=1), arrays, HOUR, lim(8))
    assert d.cancel_idle == {}  # the reduce becomes ready soon
