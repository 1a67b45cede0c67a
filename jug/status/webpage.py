"""The page of ``jug webstatus``, rendered on the server: table, chain, failures and charts.

The first HTML response already holds everything (so ``curl`` and a headless screenshot see
the full table and charts); the page's script only asks for the live part again every few
seconds (``/live``, the same template's fragment) and swaps it in.  One rendering, on the
server, in one Jinja2 template that escapes every name and message; nothing is fetched from
elsewhere (a cluster login node often has no route out).

Colours: a count is coloured only when it is not zero (a zero is grey, never red); failed is
red, finished green, running blue, crashed orange.  The chain's state uses the same words as
``jug status --short``.
"""

from __future__ import annotations

import time
from typing import Any

import jinja2
from markupsafe import Markup  # jinja2's own dependency: HTML already escaped

from .progress import ChainState, columns, lock_line, total_line

#: the text colour of each count when not zero (zero counts are grey)
STATE_COLOURS = {"waiting": "#555555", "ready": "#1565c0", "finished": "#2e7d32",
                 "running": "#00838f", "failed": "#c62828", "crashed": "#ef6c00"}
ZERO_COLOUR = "#9e9e9e"
#: the colour of the chain's state line
CHAIN_COLOURS = {"running": "#1565c0", "done": "#2e7d32", "failed": "#c62828",
                 "drained": "#6a1b9a", "stopped": "#ef6c00", "cancelled": "#616161"}
MAX_FAILURES = 20

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

LIVE = _ENV.from_string("""
<div id="live-state" data-generation="{{ generation }}" hidden></div>
{% if chain %}
<p id="chain" style="color: {{ chain_colour }}"><b>{{ chain.text }}</b>{% if chain.reason %}: {{ chain.reason }}{% endif %}</p>
{% if chain_lines %}<details id="chain-lines"><summary>generations and the last plan</summary><pre>{{ chain_lines|join("\\n") }}</pre></details>{% endif %}
{% endif %}
<table id="status">
<thead><tr id="header"><th>{{ row_label }}</th>{% for c in cols %}<th>{{ c|capitalize }}</th>{% endfor %}</tr></thead>
<tbody id="rows">
{% for name, counts in rows %}
<tr id="row-{{ loop.index0 }}" data-name="{{ name }}"><td>{{ name }}</td>{% for c in cols %}<td class="{{ c }}{% if not counts.get(c) %} zero{% endif %}">{{ counts.get(c, 0) }}</td>{% endfor %}</tr>
{% endfor %}
<tr id="total" class="total"><td>Total</td>{% for c in cols %}<td class="{{ c }}{% if not total.get(c) %} zero{% endif %}">{{ total.get(c, 0) }}</td>{% endfor %}</tr>
</tbody>
</table>
<p id="eta">{{ eta }}</p>
<p id="barrier">{% if incomplete %}The jugfile stops at a barrier: more tasks follow once these finish.{% endif %}</p>
<p id="locks">{{ locks }}</p>
<ul id="failures">
{% for f in failures %}<li class="failed">failed: {{ f.task }}: {{ f.error or "?" }}</li>
{% endfor %}
</ul>
<p id="updated">Updated {{ updated }}</p>
<div id="charts">{{ charts }}</div>
""")

PAGE = _ENV.from_string("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>jug status: {{ title }}</title>
<style>
 body { font-family: sans-serif; margin: 1em 1.5em; }
 h1 { margin: 0.2em 0; }
 table#status { border-collapse: collapse; width: 100%; }
 th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ccc; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 tr.total td { font-weight: bold; border-top: 2px solid #444; }
{% for state, colour in state_colours.items() %}
 td.{{ state }} { color: {{ colour }}; }
{% endfor %}
 td.zero { color: {{ zero_colour }}; font-weight: normal; }
 li.failed { color: {{ state_colours.failed }}; }
 #error { color: {{ state_colours.failed }}; }
 #meta, #updated { color: #666; font-size: 90%; }
 #chain { font-size: 110%; }
 #chain-lines { margin-bottom: 0.8em; }
 #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 1em 2em; margin-top: 1em; }
 .chart { min-width: 0; }
 .chart h2 { font-size: 110%; margin: 0.2em 0; }
 .chart svg { width: 100%; height: auto; background: #fafafa; border: 1px solid #ddd; font-size: 11px; }
 .chart .axis { stroke: #444; }
 #failures-tb, #allocation { grid-column: 1 / -1; }
 #failures-tb pre, #chain-lines pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 85%; }
 .legend span { margin-right: 1em; }
</style>
</head>
<body data-generation="{{ generation }}" data-charts="{{ generation }}">
<h1>jug status</h1>
<p id="meta">{{ jugfile }} &mdash; store {{ jugdir }} &mdash; <a href="status.json">status.json</a></p>
<p id="error">{{ error }}</p>
<div id="live">{{ live }}</div>
<script>
// the page arrives complete; this only asks for its live part again and swaps it in
const REFRESH_MS = {{ refresh_ms }};
async function refresh() {
  const live = document.getElementById("live");
  try {
    const r = await fetch("live", {cache: "no-store"});
    const text = await r.text();
    if (!r.ok) throw new Error(text || r.statusText);
    const open = {};
    for (const d of live.querySelectorAll("details[id]")) open[d.id] = d.open;
    live.innerHTML = text;
    for (const d of live.querySelectorAll("details[id]")) if (d.id in open) d.open = open[d.id];
    const gen = document.getElementById("live-state").dataset.generation;
    document.body.dataset.generation = gen;
    document.body.dataset.charts = gen;
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "Cannot read the status: " + e.message;
  }
}
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
""")


def render_live(summary: dict[str, Any], charts: str) -> str:
    """The live part of the page (``/live``): everything that changes, ``charts`` included
    (an HTML fragment of :mod:`jug.status.webcharts`, already escaped)."""
    state = summary.get("chain_state")
    chain = ChainState(**state) if state else None
    return LIVE.render(
        generation=summary.get("generation", 0), row_label=summary.get("row_label", "Task name"),
        cols=columns(summary), rows=list(summary["tasks"].items()), total=summary["total"],
        eta=summary.get("total_line") or total_line(summary),
        incomplete=summary.get("incomplete"), locks=_locks_text(summary),
        failures=(summary.get("failures") or [])[:MAX_FAILURES],
        chain=None if chain is None else {"text": chain.text(), "reason": chain.reason},
        chain_colour=CHAIN_COLOURS.get(chain.status, "#333") if chain else "",
        chain_lines=summary.get("chain") or [],
        updated=time.strftime("%H:%M:%S", time.localtime(summary.get("time") or time.time())),
        charts=Markup(charts))


def _locks_text(summary: dict[str, Any]) -> str:
    """``2 tasks locked, 1 by dead workers.`` (empty when nothing is locked)."""
    locks = summary.get("locks") or {}
    count = int(locks.get("count") or 0)
    if not count:
        return ""
    dead = sum(1 for o in locks.get("owners") or [] if o.get("dead"))
    running = lock_line(summary)
    text = f"{count} task{'s' if count != 1 else ''} locked"
    text += f", {dead} by dead workers." if dead else "."
    return f"{text} {running}" if running else text


def render_page(live: str, title: str, jugfile: str, jugdir: str, refresh: float,
                generation: int, error: str = "") -> str:
    """The whole page, with ``live`` (:func:`render_live`) in place."""
    return PAGE.render(title=title, jugfile=jugfile, jugdir=jugdir, error=error,
                       refresh_ms=max(100, int(refresh * 1000)), generation=generation,
                       live=Markup(live), state_colours=STATE_COLOURS, zero_colour=ZERO_COLOUR)
