"""The charts of ``jug webstatus``, drawn as SVG on the server from the store's own records.

Server-side SVG needs no JavaScript library and fetches nothing from the internet (a cluster
login node often has no route out).  Four panels: finished tasks over time with the projected
finish, run-time distribution per task name, worker timeline (start, end, why each left),
and the failures with their tracebacks.  Geometry is computed here; the markup is a Jinja2
template, which escapes every name and message.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import jinja2

from ..state.activity import timing_docs
from ..state.history import FinishTimes
from ..state.shifts import ExitReason, WorkerRecord, read_records
from .resources import HEAD as RESOURCES_HEAD
from .resources import resource_rows

W, H = 640, 220  # size of each chart
LEFT, RIGHT, TOP, BOTTOM = 150, 20, 16, 30  # margins
MAX_WORKERS = 40  # rows of the worker timeline (the most recent)
MAX_SAMPLES = 100  # dots per task name
MAX_FAILURES = 20

#: one colour per reason a worker left, no two alike: a failed task is red, and a worker
#: blocked behind failed work (not itself a failure) is brown, never the same red
COLOURS = {ExitReason.NO_WORK.value: "#66bb6a", ExitReason.BUDGET.value: "#1565c0",
           ExitReason.STOP.value: "#6a1b9a", ExitReason.EXIT_CHECK.value: "#ba68c8",
           ExitReason.GAVE_UP.value: "#ef6c00", ExitReason.TASK_FAILED.value: "#c62828",
           ExitReason.BLOCKED.value: "#8d6e63", ExitReason.SIGNAL.value: "#f06292",
           ExitReason.ERROR.value: "#212121", ExitReason.RUNNING.value: "#00acc1"}
DONE_COLOUR, PROJECTION_COLOUR, SAMPLE_COLOUR = "#2e7d32", "#ff8f00", "#1565c0"


@dataclass
class ChartData:
    """What the charts show, read from the store in a few bulk reads."""

    now: float
    total: int
    finished: int
    eta: float | None
    progress: list[tuple[float, int]]  # (time, finished so far)
    durations: dict[str, list[float]] = field(default_factory=dict)
    workers: list[WorkerRecord] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, dict[str, Any]] = field(default_factory=dict)  # jug.hpc.report figures
    resources: list[tuple[str, ...]] = field(default_factory=list)  # jug.status.resources rows


def collect(store: Any, summary: dict[str, Any]) -> ChartData:
    """Read timings, worker records and failure marks for the charts of ``summary``."""
    docs = timing_docs(store)
    finished = int(summary["total"].get("finished", 0))
    times = FinishTimes.from_timing_docs(docs)
    base = max(0, finished - times.total)  # results the histograms do not know of
    durations: dict[str, list[float]] = {}
    for doc in docs.values():
        for name, d in ((doc or {}).get("tasks") or {}).items():
            if name in summary["tasks"]:
                durations.setdefault(name, []).extend(float(x) for x in d.get("recent", []))
    try:
        marks = store.list_failed()
    except Exception:
        marks = {}
    failures = [dict(f, traceback=str((marks.get(f["hash"]) or {}).get("traceback") or ""))
                for f in summary.get("failures", [])[:MAX_FAILURES]]
    return ChartData(now=float(summary.get("time") or time.time()),
                     total=sum(summary["total"].values()), finished=finished,
                     eta=(summary.get("progress") or {}).get("eta_seconds"),
                     progress=_steps(times, base), durations=durations,
                     workers=read_records(store)[-MAX_WORKERS:], failures=failures,
                     report=summary.get("report") or {}, resources=resource_rows(summary))


def _steps(times: Any, base: int) -> list[tuple[float, int]]:
    """``[(time, finished so far)]``, starting at the first bucket with ``base`` tasks."""
    if not times.buckets:
        return []
    return [(times.buckets[0][0], base), *times.cumulative(base)]


@dataclass
class Axis:
    """A linear map from ``[lo, hi]`` to pixels ``[a, b]``."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, v: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return round(self.a + (v - self.lo) / span * (self.b - self.a), 1)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def progress_chart(d: ChartData) -> dict[str, Any]:
    """Finished over time: a step line to now, a dashed projection to the ETA."""
    start = d.progress[0][0] if d.progress else d.now - 60
    start = min(start, d.now - 1)
    end = d.now + d.eta if d.eta and d.finished < d.total else d.now
    x = Axis(start, end, LEFT, W - RIGHT)
    y = Axis(0, max(d.total, 1), H - BOTTOM, TOP)
    last = d.progress[0][1] if d.progress else d.finished
    pts = [(x(start), y(last))]
    for t, n in d.progress:
        t = min(t, d.now)  # the current bucket ends in the future
        pts += [(x(t), y(last)), (x(t), y(n))]
        last = n
    pts.append((x(d.now), y(max(last, d.finished))))
    proj = None
    if end > d.now:
        proj = (x(d.now), y(d.finished), x(end), y(d.total))
    return {"points": " ".join(f"{a},{b}" for a, b in pts), "projection": proj,
            "x0": LEFT, "x1": W - RIGHT, "y0": H - BOTTOM, "y1": TOP,
            "labels": [(LEFT, _clock(start), "start"), (W - RIGHT, _clock(end), "end")],
            "total": d.total, "finished": d.finished,
            "eta_text": f"projected finish {_clock(end)}" if proj else "no projection"}


def durations_chart(d: ChartData) -> dict[str, Any]:
    """Run-time distribution per task name: a dot per recent run, a tick at the median."""
    names = sorted(d.durations)
    samples = [v for xs in d.durations.values() for v in xs if v > 0]
    hi = max(samples, default=1.0)
    lo = min(samples, default=0.0)
    log = lo > 0 and hi / lo > 20  # spreads over decades: a log scale keeps both ends visible
    axis = Axis(math.log10(lo), math.log10(hi), LEFT, W - RIGHT) if log else \
        Axis(0, hi, LEFT, W - RIGHT)

    def x(v: float) -> float:
        return axis(math.log10(max(v, lo))) if log else axis(v)

    band = (H - TOP - BOTTOM) / max(len(names), 1)
    rows = []
    for i, name in enumerate(names):
        xs = d.durations[name][-MAX_SAMPLES:]
        mid = TOP + band * (i + 0.5)
        med = statistics.median(xs) if xs else 0.0
        dots = [(x(v), round(mid + ((j * 7) % 11 - 5) * min(band, 30) / 30, 1))
                for j, v in enumerate(xs)]
        rows.append({"name": name, "y": round(mid, 1), "dots": dots, "median": x(med),
                     "text": f"median {med:.3g}s, {len(xs)} recent runs"})
    return {"rows": rows, "hi": f"{hi:.3g}s", "lo": f"{lo:.3g}s" if log else "0s",
            "scale": "log scale" if log else "", "x0": LEFT, "x1": W - RIGHT, "y0": H - BOTTOM,
            "band": round(min(band, 30) / 2, 1)}


def workers_chart(d: ChartData) -> dict[str, Any]:
    """One bar per worker from its start to its exit (or now), coloured by why it left."""
    ws = d.workers
    start = min((w.started for w in ws), default=d.now - 60)
    x = Axis(start, max(d.now, start + 1), LEFT, W - RIGHT)
    band = (H - TOP - BOTTOM) / max(len(ws), 1)
    bars = []
    for i, w in enumerate(ws):
        end = w.ended if w.ended is not None else d.now
        where = f" {w.job.get('queue_id')}" if w.job else ""
        bars.append({"x": x(w.started), "w": max(1.0, x(end) - x(w.started)),
                     "y": round(TOP + band * i, 1), "h": round(max(band - 2, 1), 1),
                     "colour": COLOURS.get(w.reason, "#777"), "label": f"{w.host}:{w.pid}",
                     "title": f"{w.host}:{w.pid}{where}: {w.reason} {w.detail}; {w.tasks} tasks, "
                              f"{w.busy_seconds:.0f}s busy, {w.idle_seconds:.0f}s idle"})
    reasons = sorted({w.reason for w in ws})
    legend = [(r, COLOURS.get(r, "#777")) for r in reasons]
    return {"bars": bars, "legend": legend, "labels": [(LEFT, _clock(start), "start"),
                                                       (W - RIGHT, _clock(d.now), "end")],
            "show_labels": band >= 10}


_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
TEMPLATE = _ENV.from_string("""
<section class="chart"><h2>Finished tasks over time</h2>
<svg id="chart-finished" width="{{ W }}" height="{{ H }}" viewBox="0 0 {{ W }} {{ H }}" role="img">
<line class="axis" x1="{{ p.x0 }}" y1="{{ p.y0 }}" x2="{{ p.x1 }}" y2="{{ p.y0 }}"/>
<line class="axis" x1="{{ p.x0 }}" y1="{{ p.y0 }}" x2="{{ p.x0 }}" y2="{{ p.y1 }}"/>
<text x="{{ p.x0 - 6 }}" y="{{ p.y1 + 4 }}" text-anchor="end">{{ p.total }}</text>
<text x="{{ p.x0 - 6 }}" y="{{ p.y0 }}" text-anchor="end">0</text>
{% for x, t, a in p.labels %}<text x="{{ x }}" y="{{ H - 8 }}" text-anchor="{{ a }}">{{ t }}</text>{% endfor %}
<polyline class="done" fill="none" stroke="{{ done }}" stroke-width="3" points="{{ p.points }}"/>
{% if p.projection %}<line class="projection" stroke="{{ proj }}" stroke-width="3" stroke-dasharray="6 4"
 x1="{{ p.projection[0] }}" y1="{{ p.projection[1] }}" x2="{{ p.projection[2] }}" y2="{{ p.projection[3] }}"/>{% endif %}
<text x="{{ p.x0 + 8 }}" y="{{ p.y1 + 12 }}">{{ p.finished }} of {{ p.total }} finished; {{ p.eta_text }}</text>
</svg></section>
<section class="chart"><h2>Run time per task name</h2>
<svg id="chart-durations" width="{{ W }}" height="{{ H }}" viewBox="0 0 {{ W }} {{ H }}" role="img">
<line class="axis" x1="{{ r.x0 }}" y1="{{ r.y0 }}" x2="{{ r.x1 }}" y2="{{ r.y0 }}"/>
<text x="{{ r.x0 }}" y="{{ H - 8 }}">{{ r.lo }}</text><text x="{{ (r.x0 + r.x1) / 2 }}" y="{{ H - 8 }}" text-anchor="middle">{{ r.scale }}</text><text x="{{ r.x1 }}" y="{{ H - 8 }}" text-anchor="end">{{ r.hi }}</text>
{% for row in r.rows %}
<text x="{{ r.x0 - 6 }}" y="{{ row.y + 4 }}" text-anchor="end">{{ row.name }}</text>
<g class="samples"><title>{{ row.name }}: {{ row.text }}</title>
{% for cx, cy in row.dots %}<circle cx="{{ cx }}" cy="{{ cy }}" r="3" fill="{{ sample }}" fill-opacity="0.6"/>{% endfor %}
</g>
<line class="median" x1="{{ row.median }}" x2="{{ row.median }}" y1="{{ row.y - r.band }}" y2="{{ row.y + r.band }}" stroke="#000" stroke-width="2"/>
{% else %}<text x="{{ W / 2 }}" y="{{ H / 2 }}" text-anchor="middle">no task has run yet</text>
{% endfor %}
</svg></section>
<section class="chart"><h2>Workers</h2>
<svg id="chart-workers" width="{{ W }}" height="{{ H }}" viewBox="0 0 {{ W }} {{ H }}" role="img">
{% for x, t, a in k.labels %}<text x="{{ x }}" y="{{ H - 8 }}" text-anchor="{{ a }}">{{ t }}</text>{% endfor %}
{% for b in k.bars %}
<rect class="worker" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="{{ b.colour }}"><title>{{ b.title }}</title></rect>
{% if k.show_labels %}<text x="{{ LEFT - 6 }}" y="{{ b.y + b.h / 2 + 4 }}" text-anchor="end">{{ b.label }}</text>{% endif %}
{% else %}<text x="{{ W / 2 }}" y="{{ H / 2 }}" text-anchor="middle">no worker has started yet</text>
{% endfor %}
</svg>
<p class="legend">{% for reason, colour in k.legend %}<span style="color: {{ colour }}">&#9632; {{ reason }}</span> {% endfor %}</p>
</section>
<section class="chart" id="failures-tb"><h2>Failures</h2>
{% for f in failures %}<details id="tb-{{ f.hash[:16] }}"{% if loop.first %} open{% endif %}><summary>{{ f.task }} {{ f.hash[:12] }}: {{ f.first_line }}</summary><pre>{{ f.traceback }}</pre></details>
{% else %}<p>No task failed.</p>{% endfor %}
</section>
{% if report %}<section class="chart" id="allocation"><h2>Allocation (worker-seconds)</h2>
<table><tr><th>pool</th><th>workers</th><th>allocated</th><th>tasks</th><th>efficiency</th><th>idle start</th><th>middle</th><th>tail</th><th>left early</th></tr>
{% for pool, a in report.items() %}<tr><td>{{ pool }}</td><td>{{ a.workers }}</td><td>{{ "%.1f"|format(a.allocated) }}</td><td>{{ "%.1f"|format(a.task_seconds) }}</td><td>{{ "-" if a.efficiency is none else "%.0f%%"|format(100 * a.efficiency) }}</td><td>{{ "%.1f"|format(a.idle_start) }}</td><td>{{ "%.1f"|format(a.idle_middle) }}</td><td>{{ "%.1f"|format(a.idle_tail) }}</td><td>{% for r, n in a.left_early.items() %}{{ n }} {{ r }}{% if not loop.last %}, {% endif %}{% else %}-{% endfor %}</td></tr>
{% endfor %}</table></section>{% endif %}
{% if resources %}<section class="chart" id="resources"><h2>What each task used</h2>
<table><tr>{% for h in resources_head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in resources %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table></section>{% endif %}
""")


def render(d: ChartData) -> str:
    """The HTML fragment with the four panels."""
    return TEMPLATE.render(W=W, H=H, LEFT=LEFT, p=progress_chart(d), r=durations_chart(d),
                           k=workers_chart(d), failures=d.failures, report=d.report, done=DONE_COLOUR,
                           resources=d.resources, resources_head=RESOURCES_HEAD,
                           proj=PROJECTION_COLOUR, sample=SAMPLE_COLOUR)
