"""The layering rules of docs/architecture.md, checked on the source (they rot otherwise)."""

from __future__ import annotations

import ast
from pathlib import Path

from support import ROOT

JUG = ROOT / "jug"
MAX_FUNCTION_LINES = 50


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
