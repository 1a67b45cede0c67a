"""``jug graph``: the task graph per task name, as Graphviz dot text or (with ``dot``) a picture.

One node per task name, labelled with its counts per state and coloured by progress; one edge
``a -> b`` when some task named ``b`` depends on a task named ``a`` (labelled with how many
such dependencies there are).  ``--tasks`` draws one node per task instead, as long as the
graph is small enough for a person (and Graphviz) to read: above :data:`MAX_TASK_NODES` tasks
it collapses by task name again, so a 10,000-task graph stays a few nodes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import OrderedDict
from typing import Any

from ..config.options import Option
from ..state.taskstate import (
    STATES,
    Snapshot,
    base_dependencies,
    classify,
    dead_locks,
    unique_tasks,
)
from ._common import CommandError, open_and_load, report

HELP = "Print the task graph (per task name, with counts) as Graphviz dot, or draw it"
TAKES_JUGFILE = True
OPTIONS = [
    Option("output", None, "Write a picture to FILE (format from the extension: png, svg, pdf; "
           ".dot/.gv writes the dot text); needs Graphviz's 'dot' for pictures",
           metavar="FILE", short="-o"),
    Option("tasks", False, "One node per task (collapsed by task name above "
           "500 tasks)", flag=True),
]
#: above this many tasks, ``--tasks`` collapses the graph by task name
MAX_TASK_NODES = 500

_COLOURS = {"finished": "palegreen", "failed": "lightcoral", "crashed": "orange",
            "running": "lightskyblue", "ready": "khaki", "waiting": "white"}
_URGENCY = ("failed", "crashed", "running", "ready", "waiting")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_text(tasks: list, snap: Snapshot, incomplete: bool = False) -> str:
    """The dot source of the per-name graph of ``tasks`` with state counts from ``snap``."""
    tasks = unique_tasks(tasks)
    states = classify(tasks, snap, dead_locks(snap.locks))
    counts: dict[str, dict[str, int]] = OrderedDict()
    edges: dict[tuple[str, str], int] = OrderedDict()
    for t in tasks:
        c = counts.setdefault(t.name, dict.fromkeys(STATES, 0))
        st = states[t.hash()]
        c[st] = c.get(st, 0) + 1
        for d in base_dependencies(t):
            edges[(d.name, t.name)] = edges.get((d.name, t.name), 0) + 1
    lines = ["digraph jug {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for name, c in counts.items():
        total = sum(c.values())
        parts = [f"{c[s]} {s}" for s in STATES if c.get(s)]
        label = f"{name}\n{total} task(s): {', '.join(parts)}"
        if c.get("finished") == total:
            colour = _COLOURS["finished"]
        else:  # the most urgent state present: failed, crashed, running, ready, waiting
            colour = next((_COLOURS[s] for s in _URGENCY if c.get(s)), "white")
        lines.append(f"  {_quote(name)} [label={_quote(label)}, fillcolor={colour}];")
    for (a, b), n in edges.items():
        lines.append(f"  {_quote(a)} -> {_quote(b)} [label={n}];")
    if incomplete:
        lines.append('  "(barrier)" [shape=note, style=dashed, label="more tasks follow a '
                     'barrier"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def task_dot_text(tasks: list, snap: Snapshot) -> str:
    """The dot source with one node per task (hash prefix and state), one edge per dependency."""
    tasks = unique_tasks(tasks)
    states = classify(tasks, snap, dead_locks(snap.locks))
    lines = ["digraph jug {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for t in tasks:
        h = t.hash()
        label = f"{t.name}\n{h[:8]} {states[h]}"
        lines.append(f"  {_quote(h)} [label={_quote(label)}, fillcolor={_COLOURS[states[h]]}];")
    for t in tasks:
        for d in base_dependencies(t):
            lines.append(f"  {_quote(d.hash())} -> {_quote(t.hash())};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _draw(text: str, output: str) -> None:
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext in ("dot", "gv"):
        with open(output, "w") as f:
            f.write(text)
        return
    if not ext:
        raise CommandError(f"--output {output}: give a file extension (png, svg, pdf or dot)", 2)
    dot = shutil.which("dot")
    if dot is None:
        raise CommandError("drawing the graph needs Graphviz's 'dot' program, which is not "
                           "installed (Debian/Ubuntu: apt-get install graphviz). Without "
                           "--output, 'jug graph' prints the dot text.", 2)
    proc = subprocess.run([dot, f"-T{ext}", "-o", output], input=text, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise CommandError(f"dot could not write {output}: {proc.stderr.strip()}", 2)


def _text(args: Any, loaded: Any, snap: Snapshot) -> str:
    """Per-task dot text with ``--tasks`` on a small graph, else per task name."""
    if args.tasks:
        n = len(unique_tasks(loaded.tasks))
        if n <= MAX_TASK_NODES and not loaded.incomplete:
            return task_dot_text(loaded.tasks, snap)
        why = f"{n} tasks" if n > MAX_TASK_NODES else "the jugfile stops at a barrier"
        print(f"jug graph: {why}: one node per task name (--tasks draws at most "
              f"{MAX_TASK_NODES} tasks)", file=sys.stderr)
    return dot_text(loaded.tasks, snap, loaded.incomplete)


def run(args: Any) -> int:
    """Print the dot text, or write ``--output``."""
    try:
        store, loaded = open_and_load(args)
        text = _text(args, loaded, Snapshot(store))
        if args.output:
            _draw(text, args.output)
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    except CommandError as e:
        return report(e)
    return 0
