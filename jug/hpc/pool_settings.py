"""Worker pools as ``jug submit`` declares them: named resource sets and the tasks each runs
(pure: no store, no scheduler; which pool a task belongs to is :mod:`jug.state.membership`).

A profile (or ``jug submit --pool``) declares, e.g.::

    pools:
      gpu:     {tasks: [train], gpus: 1, partition: gpu, max-workers: 4}
      big:     {tasks: [assemble], mem: 200G, max-workers: 2}
      default: {max-workers: 64}

A task belongs to the first pool one of whose ``tasks`` entries matches its name (the rule of
``--target``: full name, else the name without its module, else a prefix of either), else
to ``default``.  Each pool
becomes one array of ``jug execute --pool NAME --only ... --exclude ...`` workers, so that
a pool's workers run exactly its tasks and the two sides never disagree on who runs what.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..state.membership import DEFAULT, Pool
from .profiles import ProfileError, check_keys, normalise_key

#: keys a pool has besides the ``jug submit`` settings it overrides
OWN_KEYS = ("tasks", "max_workers")


class PoolError(ProfileError):
    """A pool declaration is malformed (reported in one line)."""


def _positive(value: Any, where: str) -> int:
    """``max-workers`` as a positive int, else PoolError."""
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise PoolError(f"{where}: max-workers must be a whole number of at least 1, "
                        f"got {value!r}")
    return n


def make_pool(name: str, spec: Any, where: str = "pools") -> Pool:
    """One pool from its mapping (``tasks``, ``max-workers`` and ``jug submit`` settings)."""
    where = f"{where}, pool '{name}'"
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise PoolError(f"{where}: expected a mapping such as {{tasks: [train], gpus: 1}}")
    own = {normalise_key(k): v for k, v in spec.items() if normalise_key(k) in OWN_KEYS}
    rest = {k: v for k, v in spec.items() if normalise_key(k) not in OWN_KEYS}
    if "pools" in {normalise_key(k) for k in rest}:
        raise PoolError(f"{where}: a pool cannot declare pools")
    tasks = own.get("tasks") or []
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, str) and t.strip() for t in tasks):
        raise PoolError(f"{where}: tasks must be a list of task names or name prefixes")
    if name == DEFAULT and tasks:
        raise PoolError(f"{where}: the default pool takes every task no other pool takes; "
                        f"it cannot list tasks")
    if name != DEFAULT and not tasks:
        raise PoolError(f"{where}: list the tasks it runs, e.g. tasks: [train]")
    mw = own.get("max_workers")
    return Pool(name=str(name), tasks=tuple(t.strip() for t in tasks),
                max_workers=None if mw is None else _positive(mw, where),
                settings=check_keys(rest, where))


def parse_pools(data: Any, where: str = "pools") -> list[Pool]:
    """The pools of a ``pools:`` mapping in declaration order, ``default`` always last."""
    if not data:
        return []
    if not isinstance(data, Mapping):
        raise PoolError(f"{where}: expected a mapping of pool name -> settings")
    pools = [make_pool(str(name), spec, where) for name, spec in data.items()]
    others = [p for p in pools if p.name != DEFAULT]
    default = [p for p in pools if p.name == DEFAULT] or [Pool(DEFAULT)]
    return others + default


def parse_pool_option(text: str) -> tuple[str, dict[str, Any]]:
    """``--pool gpu:tasks=train,eval,gpus=1,partition=gpu`` -> (``gpu``, its mapping).

    Items without ``=`` add to the key before them (so ``tasks=a,b`` lists two tasks).
    """
    import yaml  # start-up time: PyYAML loads only for YAML files

    name, sep, body = text.partition(":")
    if not sep or not name.strip():
        raise PoolError(f"--pool {text!r}: write NAME:tasks=PREFIX[,PREFIX...][,KEY=VALUE...], "
                        f"e.g. gpu:tasks=train,gpus=1,partition=gpu")
    spec: dict[str, Any] = {}
    last = None
    for item in (i.strip() for i in body.split(",") if i.strip()):
        key, eq, value = item.partition("=")
        if eq:
            last = normalise_key(key)
            parsed = yaml.safe_load(value) if value.strip() else None
            spec[last] = [str(value).strip()] if last == "tasks" else parsed
        elif last == "tasks":
            spec["tasks"].append(item)
        else:
            raise PoolError(f"--pool {text!r}: '{item}' is not KEY=VALUE")
    return name.strip(), spec


def declaration(pools: Sequence[Pool]) -> dict[str, dict[str, Any]]:
    """The ``pools:`` mapping that :func:`parse_pools` turns back into ``pools`` (JSON-able:
    what a ``--until-done`` chain records, so a worker on a compute node rebuilds them)."""
    out: dict[str, dict[str, Any]] = {}
    for p in pools:
        spec: dict[str, Any] = dict(p.settings)
        if p.tasks:
            spec["tasks"] = list(p.tasks)
        if p.max_workers is not None:
            spec["max_workers"] = p.max_workers
        out[p.name] = spec
    return out


def pools_from_settings(settings: Mapping[str, Any], where: str = "pools") -> list[Pool]:
    """Pools of the merged ``jug submit`` settings: the profile's ``pools``, then ``--pool``
    (a pool given on the command line replaces the profile's pool of that name)."""
    declared: dict[str, Any] = dict(settings.get("pools") or {})
    if declared and not isinstance(settings.get("pools"), Mapping):
        raise PoolError("pools: expected a mapping of pool name -> settings")
    for text in settings.get("pool") or []:
        name, spec = parse_pool_option(str(text))
        declared[name] = spec
    return parse_pools(declared, where)


def execute_args(pools: Sequence[Pool], pool: Pool) -> list[str]:
    """The ``jug execute`` options making a worker run exactly ``pool``'s tasks."""
    earlier: list[str] = []
    for p in pools:
        if p.name == pool.name:
            break
        earlier.extend(p.tasks)
    if pool.name == DEFAULT:
        earlier = [t for p in pools for t in p.tasks]
    args = ["--pool", pool.name]
    for t in pool.tasks:
        args += ["--only", t]
    for t in earlier:
        args += ["--exclude", t]
    return args


def pool_settings(settings: Mapping[str, Any], pools: Sequence[Pool], pool: Pool,
                  stem: str) -> dict[str, Any]:
    """The ``jug submit`` settings of ``pool``'s array: the pool's settings over the rest,
    its ``jug execute`` selection, and a job name ending in the pool's name."""
    out = {k: v for k, v in settings.items() if k not in ("pools", "pool")}
    out.update(pool.settings)
    out["execute_args"] = [*(out.get("execute_args") or []), *execute_args(pools, pool)]
    base = pool.settings.get("job_name") or f"{settings.get('job_name') or 'jug-' + stem}"
    out["job_name"] = base if pool.settings.get("job_name") else f"{base}-{pool.name}"
    return out


def max_workers(pool: Pool, fallback: int) -> int:
    """The pool's ``max-workers``, else its ``workers``, else ``fallback``."""
    if pool.max_workers:
        return pool.max_workers
    w = pool.settings.get("workers")
    return int(w) if w else fallback
