"""The Task API, used directly from Python on the dict and file stores."""

from __future__ import annotations

import pytest

import jug
from jug import Task, TaskGenerator, Tasklet, iteratetask, value
from jug.backends.dict_store import DictStore
from jug.task import TaskError, alltasks, recursive_dependencies


def double(x):
    return 2 * x


def add(a, b=0):
    return a + b


def total(xs, extra=None):
    return xs[0] + xs[1][0] + extra["k"] + extra["other"][0]


@pytest.fixture(autouse=True)
def fresh_store():
    alltasks.clear()
    store = DictStore()
    Task.store = store
    yield store
    alltasks.clear()


def test_tasks_register_and_compute(fresh_store) -> None:
    t = Task(double, 3)
    assert alltasks == [t]
    assert t.name.endswith("test_core_task.double")
    assert not t.can_load() and not t.is_loaded()
    assert t.can_run()
    assert t.run() == 6
    assert t.can_load() and t.is_loaded()
    assert t.value() == 6 and t.result == 6
    assert fresh_store.load(t.hash()) == 6


def test_dependencies_in_lists_tuples_dicts_and_kwargs() -> None:
    a, b, c, d = Task(double, 1), Task(double, 2), Task(double, 3), Task(double, 4)
    t = Task(total, [a, (b,)], extra={"k": c, "other": [d]})
    assert set(map(id, t.dependencies())) == {id(a), id(b), id(c), id(d)}
    assert not t.can_run()
    for x in (a, b, c, d):
        x.run()
    assert t.can_run()
    assert t.run() == 2 + 4 + 6 + 8


def test_hash_depends_on_function_and_arguments() -> None:
    assert Task(double, 1).hash() == Task(double, 1).hash()
    assert Task(double, 1).hash() != Task(double, 2).hash()
    assert Task(double, 1).hash() != Task(add, 1).hash()
    assert Task(add, 1, b=2).hash() != Task(add, 1, b=3).hash()
    assert Task(add, 1, b=2).hash() == Task(add, 1, b=2).hash()
    # a task depending on another hashes through the other's hash
    assert Task(double, Task(double, 1)).hash() != Task(double, Task(double, 2)).hash()


def test_lambda_is_refused_with_clear_error() -> None:
    with pytest.raises(TaskError, match="lambda"):
        Task(lambda x: x, 1)
    with pytest.raises(TaskError, match="lambda"):
        TaskGenerator(lambda x: x)


def test_taskgenerator_makes_tasks() -> None:
    gen = TaskGenerator(double)
    t = gen(5)
    assert isinstance(t, Task)
    assert t.name == Task(double, 5).name
    assert t.hash() == Task(double, 5).hash()
    assert t.run() == 10


def test_value_recurses_through_containers() -> None:
    a, b = Task(double, 1), Task(double, 2)
    a.run()
    b.run()
    assert value({"x": [a, (b, 7)], "y": 3}) == {"x": [2, (4, 7)], "y": 3}


def test_value_of_unrun_task_says_what_to_do() -> None:
    with pytest.raises(TaskError, match="jug execute"):
        Task(double, 9).value()


def test_lock_unlock_fail_invalidate(fresh_store) -> None:
    t = Task(double, 1)
    assert not t.is_locked()
    assert t.lock()
    assert t.is_locked()
    assert not t.lock()  # second lock fails
    owner = fresh_store.lock_owner(t.hash())
    assert {"host", "pid", "started", "job"} <= set(owner)
    t.fail()
    assert t.is_failed()
    t.unlock()
    assert not t.is_locked()
    with pytest.raises(TaskError):
        Task(double, 2).fail()  # lock not held
    t.run()
    assert t.can_load()
    t.invalidate()
    assert not t.can_load()


def test_load_unload_and_unload_recursive(fresh_store) -> None:
    a = Task(double, 1)
    b = Task(double, a)
    a.run()
    b.run()
    b.unload_recursive()
    assert not a.is_loaded() and not b.is_loaded()
    b.load()
    assert b.is_loaded() and b.value() == 4


def test_run_force_and_save_flags(fresh_store) -> None:
    t = Task(double, 4)
    assert t.run(save=False) == 8
    assert not fresh_store.exists(t.hash())
    assert t.run(force=True) == 8
    assert fresh_store.exists(t.hash())


def test_debug_mode_detects_argument_mutation() -> None:
    def mutate(xs):
        xs.append(1)
        return len(xs)

    t = Task(mutate, [1, 2])
    with pytest.raises(TaskError, match="modified its arguments"):
        t.run(debug_mode=True)


def test_tasklets_and_iteratetask() -> None:
    t = Task(add, (1, 2), b=(3,))
    t.run()
    first = t[0]
    assert isinstance(first, Tasklet)
    assert first.value() == 1
    assert t[1:3].value() == (2, 3)
    a, b, c = iteratetask(t, 3)
    assert (a.value(), b.value(), c.value()) == (1, 2, 3)
    assert t[0].hash() == t[0].hash() != t[1].hash()
    u = Task(double, t[2])
    assert list(u.dependencies())[0].base is t
    assert u.run() == 6


def test_recursive_dependencies_and_deep_chain() -> None:
    t = Task(double, 1)
    chain = [t]
    for _ in range(3000):
        t = Task(double, t)
        chain.append(t)
    assert len(t.hash()) == 40  # no recursion error
    deps = list(recursive_dependencies(t))
    assert len(deps) == 3000
    assert list(recursive_dependencies(t, max_level=1)) == [chain[-2]]


def test_set_jugdir_and_is_jug_running(tmp_path) -> None:
    store = jug.set_jugdir(str(tmp_path / "x.jugdata"))
    assert Task.store is store
    t = Task(double, 21)
    t.run()
    assert (tmp_path / "x.jugdata").is_dir()
    assert store.load(t.hash()) == 42
    assert jug.set_jugdir("dict_store").description == "dict_store"
