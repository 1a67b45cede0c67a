"""jug: task-based parallelisation for Python, on a laptop or an HPC batch cluster.

The public API follows Jug's documentation: ``Task``, ``TaskGenerator``, ``value``,
``barrier``/``bvalue``, ``CachedFunction``, ``CompoundTask``, ``iteratetask``, ``init``...
"""

from ._version import __version__
from .barrier import barrier, bvalue
from .cached import CachedFunction
from .compound import CompoundTask, CompoundTaskGenerator
from .jugfile import init, is_jug_running, set_jugdir
from .task import Task, TaskGenerator, Tasklet, iteratetask, recursive_dependencies, value

_SUBMODULES = ("mapreduce", "utils", "io", "compound", "task", "hash", "hooks", "backends",
               "barrier", "jugfile", "config", "schedulers", "hpc", "state", "status", "engine")


def __getattr__(name: str):
    """``jug.mapreduce`` etc. without importing them (and numpy/yaml) at ``import jug``."""
    if name in _SUBMODULES:
        import importlib  # start-up time: only for a lazily named submodule

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'jug' has no attribute {name!r}")

__all__ = [
    "Task", "TaskGenerator", "Tasklet", "iteratetask", "value", "recursive_dependencies",
    "barrier", "bvalue", "CachedFunction", "CompoundTask", "CompoundTaskGenerator",
    "init", "set_jugdir", "is_jug_running", "__version__",
]
