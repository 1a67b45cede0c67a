"""jug: task-based parallelisation for Python, on a laptop or an HPC batch cluster.

The public API follows Jug's documentation: ``Task``, ``TaskGenerator``, ``value``,
``barrier``/``bvalue``, ``CachedFunction``, ``CompoundTask``, ``iteratetask``, ``init``...
"""

from .barrier import barrier, bvalue
from .cached import CachedFunction
from .compound import CompoundTask, CompoundTaskGenerator
from .jugfile import init, is_jug_running, set_jugdir
from .task import Task, TaskGenerator, Tasklet, iteratetask, recursive_dependencies, value

__version__ = "0.1.0"

__all__ = [
    "Task", "TaskGenerator", "Tasklet", "iteratetask", "value", "recursive_dependencies",
    "barrier", "bvalue", "CachedFunction", "CompoundTask", "CompoundTaskGenerator",
    "init", "set_jugdir", "is_jug_running", "__version__",
]
