"""The layering rules of docs/architecture.md, checked on the source (they rot otherwise).

The layer order is declared once, in :data:`LAYERS`; the diagram in docs/architecture.md is
generated from it (:func:`layer_diagram`) and checked to be the one in the document.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from support import ROOT

JUG = ROOT / "jug"
DOC = ROOT / "docs" / "architecture.md"
MAX_FUNCTION_LINES = 50

#: The layers, lowest first: a module imports (at module or at function level) only from its
#: own layer and the layers below.  An entry names a module, or a package and every module in
#: it; ``jug`` alone is the package's facade (``jug/__init__.py``), and the longest entry that
#: names a module decides its layer (``jug.hpc.worker`` is an entry, not the toolkit).
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("adapters", ("jug.schedulers",),
     "scheduler facts, command builders, output parsers; nothing else from jug"),
    ("foundations", ("jug._version", "jug.hash", "jug.config", "jug.hooks"),
     "the version, hashing, options and config files (and which to trust), exit checks"),
    ("stores", ("jug.backends",),
     "the Store contract, the file / dict / Redis stores, lock owners; no task code"),
    ("tasks", ("jug.task", "jug.barrier", "jug.compound", "jug.cached", "jug.mapreduce",
               "jug.utils", "jug.io"),
     "what a jugfile author imports: Task, TaskGenerator, barrier, CompoundTask, io..."),
    ("loader", ("jug.jugfile", "jug"),
     "loading a jugfile (and showing the user's errors); the package's facade"),
    ("state", ("jug.state",),
     "what the store records and how it is judged: task states, locks, integrity, crash "
     "loops, run times, shifts, pool membership"),
    ("status", ("jug.status",), "renderers: the status table, its rich form, webstatus charts"),
    ("hpc", ("jug.hpc",),
     "jug submit's toolkit: settings, profiles, job plans, sizing, --watch, --until-done "
     "chains, pools, the allocation report"),
    ("engine", ("jug.engine",),
     "the worker loop (passes, locks, heartbeats, signals); a leaving worker of a chain "
     "hands over through hpc.chain.handover"),
    ("commands", ("jug.commands", "jug.__main__", "jug.hpc.worker"),
     "the command line, one module per command, and the python -m entries of job scripts "
     "(jug.hpc.worker: the old SGE entry, kept one release)"),
]


def _modules(folder: Path) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(folder.rglob("*.py"))]


def _imported(path: Path, tree: ast.Module) -> list[str]:
    """Every module ``path`` imports, as an absolute dotted name."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.append(".".join([*base, *([node.module] if node.module else [])]))
            else:
                names.append(node.module or "")
    return names


def test_scheduler_adapters_import_nothing_else_from_jug() -> None:
    outside = [(p.name, m) for p, tree in _modules(JUG / "schedulers") for m in _imported(p, tree)
               if (m == "jug" or m.startswith("jug.")) and not m.startswith("jug.schedulers")]
    assert outside == []


def test_no_function_is_longer_than_fifty_lines() -> None:
    long = [f"{p.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1})"
            for p, tree in _modules(JUG) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_no_store_capability_probes() -> None:
    probes = [f"{p.relative_to(ROOT)}:{n.lineno}" for p, tree in _modules(JUG)
              for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ("getattr", "hasattr") and n.args
              and "store" in ast.unparse(n.args[0]).lower()]
    assert probes == []



# -- the layers ------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_modules() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, tree) for p, tree in _modules(JUG)}


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module`` (None: no entry names it)."""
    best: tuple[int, int] | None = None
    for i, (_, entries, _) in enumerate(LAYERS):
        for e in entries:
            if module == e or (e != "jug" and module.startswith(e + ".")):
                if best is None or len(e) > best[0]:
                    best = (len(e), i)
    return None if best is None else best[1]


def _targets(path: Path, tree: ast.Module, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every jug module ``path`` imports, at any level; ``from P import
    name`` counts as importing ``P.name`` when that is a module."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            out += [(node.lineno, m) for m in subs] or [(node.lineno, mod)]
    return [(line, m) for line, m in out if m == "jug" or m.startswith("jug.")]


def test_every_module_has_a_layer() -> None:
    assert [m for m in _all_modules() if layer_of(m) is None] == []


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    mods = _all_modules()
    up = [f"{p.relative_to(ROOT)}:{line} ({LAYERS[layer_of(m)][0]}) imports {t} "
          f"({LAYERS[layer_of(t)][0]})"
          for m, (p, tree) in mods.items() for line, t in _targets(p, tree, set(mods))
          if layer_of(t) is not None and layer_of(t) > layer_of(m)]
    assert up == []


def _import_graph() -> dict[str, set[str]]:
    mods = _all_modules()
    return {m: {t for _, t in _targets(p, tree, set(mods)) if t in mods and t != m}
            for m, (p, tree) in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (empty: none), found by a depth-first walk."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> list[str]:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (found := walk(t)):
                return found
        state[m] = 2
        stack.pop()
        return []

    for m in sorted(graph):
        if m not in state and (found := walk(m)):
            return found
    return []


def test_no_import_cycles_at_any_level() -> None:
    """Imports inside functions count too: one that closes a circle only hides it."""
    assert _cycle(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def layer_diagram() -> str:
    """The diagram of docs/architecture.md: each layer (highest first) with its modules."""
    mods = sorted(_all_modules())
    lines = []
    for i in reversed(range(len(LAYERS))):
        name, _, what = LAYERS[i]
        members = [m for m in mods if layer_of(m) == i]
        lines.append(f"{i + 1:>2}. {name}: {what}")
        text = ", ".join(members)
        while text:
            cut = text.rfind(", ", 0, 88) if len(text) > 88 else len(text)
            lines.append(f"      {text[:cut]}")
            text = text[cut + 2:]
    return "\n".join(lines)


def test_the_doc_shows_the_layers_of_this_table() -> None:
    """docs/architecture.md carries :func:`layer_diagram` verbatim (so every module is in it):
    run ``python tests/test_architecture.py`` to print it after changing the table."""
    text = DOC.read_text()
    m = re.search(r"<!-- layers: generated by tests/test_architecture.py -->\n```\n(.*?)\n```",
                  text, re.S)
    assert m is not None and m.group(1) == layer_diagram()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(layer_diagram())


def test_only_task_py_names_the_task_registry() -> None:
    """``alltasks`` lives in task.py and only task.py touches it; the rest of jug reads it
    with ``registered_tasks()`` and changes it with ``unregister`` / ``_reset_registry``."""
    users = sorted({str(p.relative_to(ROOT)) for p, tree in _modules(JUG) for n in ast.walk(tree)
                    if (isinstance(n, ast.Name) and n.id == "alltasks")
                    or (isinstance(n, ast.Attribute) and n.attr == "alltasks")
                    or (isinstance(n, ast.alias) and n.name == "alltasks")})
    assert users == ["jug/task.py"]


def test_nothing_outside_the_adapters_names_a_scheduler() -> None:
    """Scheduler facts live on the adapters (jug/schedulers/): no other module compares with,
    lists or branches on a scheduler's name."""
    sys.path.insert(0, str(ROOT))
    from jug.schedulers import ALIASES, NAMES

    names = {*NAMES, *ALIASES}
    found = [f"{p.relative_to(ROOT)}:{n.lineno} {n.value!r}" for p, tree in _modules(JUG)
             if "schedulers" not in p.relative_to(JUG).parts for n in ast.walk(tree)
             if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and n.value.strip().lower() in names]
    assert found == []
    assert len(NAMES) >= 4  # the check above looks for every adapter's name
