"""``jug webstatus``: a local web page with the status table and charts, refreshing itself.

A small Flask application: ``/`` is the page, ``/status.json`` the ``jug status --json``
document and ``/charts`` the charts (SVG drawn on the server, :mod:`jug.status.webcharts`), both
fetched by the page every ``--refresh`` seconds; the page loads nothing from elsewhere.  The jugfile is loaded once and
again when it changes on disk or while it stops at a barrier; each request reads the store
in bulk.  Binds to 127.0.0.1 unless ``--host`` says otherwise (the page has no login).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import threading
from typing import Any

from ..backends import Store
from ..config.options import Option
from ..config.options import port as port_number
from ..jugfile import JugfileError, Loaded, load
from ..state.taskstate import summarize
from ..status.progress import total_line
from ._common import CommandError, open_store_or_fail, report

HELP = "Serve a self-refreshing status page on http://127.0.0.1:PORT/ (needs Flask)"
TAKES_JUGFILE = True
OPTIONS = [
    Option("port", 8080, "TCP port (0 picks a free one)", type=port_number),
    Option("host", "127.0.0.1", "Address to bind (the page has no login: keep it local)"),
    Option("refresh", 2.0, "Seconds between two refreshes of the page", type=float,
           metavar="SECONDS"),
]

_NO_FLASK = ("jug webstatus needs Flask, which is not installed. Install it with "
             "pip install 'jug[web]' (or pip install flask).")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>jug status: {title}</title>
<style>
 body {{ font-family: sans-serif; margin: 2em; }}
 table {{ border-collapse: collapse; }}
 th, td {{ padding: 0.3em 0.8em; border-bottom: 1px solid #ccc; text-align: right; }}
 th:first-child, td:first-child {{ text-align: left; }}
 tr.total td {{ font-weight: bold; border-top: 2px solid #444; }}
 .failed {{ color: #b00; }} .finished {{ color: #070; }}
 #error {{ color: #b00; }} #meta {{ color: #666; font-size: 90%; }}
 #charts {{ display: flex; flex-wrap: wrap; gap: 1em 2em; margin-top: 1em; }}
 .chart h2 {{ font-size: 110%; margin: 0.2em 0; }}
 .chart svg {{ background: #fafafa; border: 1px solid #ddd; font-size: 11px; }}
 .chart .axis {{ stroke: #444; }}
 #failures-tb {{ flex-basis: 100%; }}
 #failures-tb pre {{ background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 85%; }}
 .legend span {{ margin-right: 1em; }}
</style>
</head>
<body>
<h1>jug status</h1>
<p id="meta">{jugfile} &mdash; store {jugdir}</p>
<table id="status">
<thead><tr id="header"><th>Task name</th></tr></thead>
<tbody id="rows"></tbody>
</table>
<p id="barrier"></p>
<p id="locks"></p>
<p id="eta"></p>
<ul id="failures"></ul>
<p id="error"></p>
<p id="updated"></p>
<div id="charts"></div>
<script>
// the columns of 'jug status', in the order the server declares (crashed only when some are)
function columns(doc) {{
  const order = doc.order || Object.keys(doc.total);
  return order.filter(s => s in doc.total && (doc.total[s] || s !== "crashed"));
}}
function header(cols) {{
  const tr = document.getElementById("header");
  tr.replaceChildren();
  for (const c of ["Task name", ...cols.map(s => s[0].toUpperCase() + s.slice(1))]) {{
    const th = document.createElement("th");
    th.textContent = c;
    tr.appendChild(th);
  }}
}}
const REFRESH_MS = {refresh_ms};
function cell(tr, text, cls) {{
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}}
function row(name, counts, cols, id, cls) {{
  const tr = document.createElement("tr");
  tr.id = id;
  if (cls) tr.className = cls;
  cell(tr, name);
  for (const s of cols) cell(tr, counts[s] || 0, s);
  return tr;
}}
async function refresh() {{
  try {{
    const r = await fetch("status.json", {{cache: "no-store"}});
    const doc = await r.json();
    if (!r.ok) throw new Error(doc.error || r.statusText);
    const cols = columns(doc);
    header(cols);
    const body = document.getElementById("rows");
    body.replaceChildren();
    let i = 0;
    for (const [name, counts] of Object.entries(doc.tasks)) {{
      const tr = row(name, counts, cols, "row-" + i++);
      tr.dataset.name = name;
      body.appendChild(tr);
    }}
    body.appendChild(row("Total", doc.total, cols, "total", "total"));
    document.getElementById("barrier").textContent = doc.incomplete ?
      "The jugfile stops at a barrier: more tasks follow once these finish." : "";
    const dead = doc.locks.owners.filter(o => o.dead).length;
    document.getElementById("locks").textContent = doc.locks.count ?
      doc.locks.count + " task(s) locked" + (dead ? ", " + dead + " by dead workers" : "") + "." : "";
    document.getElementById("eta").textContent = doc.total_line || "";
    const fails = document.getElementById("failures");
    fails.replaceChildren();
    for (const f of doc.failures.slice(0, 20)) {{
      const li = document.createElement("li");
      li.className = "failed";
      li.textContent = "failed: " + f.task + ": " + (f.error || "?");
      fails.appendChild(li);
    }}
    document.getElementById("error").textContent = "";
    document.getElementById("updated").textContent =
      "Updated " + new Date(doc.time * 1000).toLocaleTimeString();
    document.body.dataset.generation = doc.generation;
    const charts = await fetch("charts", {{cache: "no-store"}});
    if (charts.ok) {{
      document.getElementById("charts").innerHTML = await charts.text();
      document.body.dataset.charts = doc.generation;
    }}
  }} catch (e) {{
    document.getElementById("error").textContent = "Cannot read the status: " + e;
  }}
}}
refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
"""


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class StatusSource:
    """The jugfile, loaded when needed, and the status document computed from the store."""

    def __init__(self, jugfile: str, store: Store, argv: list[str] | None) -> None:
        self.jugfile = jugfile
        self.store = store
        self.argv = argv
        self.loaded: Loaded | None = None
        self.mtime = 0.0
        self.generation = 0
        self._lock = threading.Lock()

    def _mtime(self) -> float:
        try:
            return os.stat(self.jugfile).st_mtime
        except OSError:
            return 0.0

    def summary(self) -> dict[str, Any]:
        """The status document (reloading the jugfile if it changed or stopped at a barrier)."""
        with self._lock:  # loading a jugfile touches process-wide state
            mtime = self._mtime()
            if self.loaded is None or self.loaded.incomplete or mtime != self.mtime:
                self.loaded = load(self.jugfile, self.store, self.argv)
                self.mtime = mtime
            self.generation += 1
            doc = summarize(self.loaded.tasks, self.store, self.loaded.incomplete,
                            self.loaded.path)
            # start-up time: jug --help imports every command module
            from .status import add_pools

            add_pools(doc, self.store, self.jugfile)
            doc["generation"] = self.generation
            doc["total_line"] = total_line(doc)
            return doc


def make_app(source: StatusSource, refresh: float) -> Any:
    """The Flask application serving the page and ``/status.json``."""
    from flask import Flask, Response  # optional dependency (the web extra), and start-up time

    app = Flask("jug.webstatus")

    @app.route("/")
    def page() -> Response:
        html = PAGE.format(title=_escape(os.path.basename(source.jugfile)),
                           jugfile=_escape(os.path.abspath(source.jugfile)),
                           jugdir=_escape(source.store.description),
                           refresh_ms=max(100, int(refresh * 1000)))
        return Response(html, mimetype="text/html")

    @app.route("/charts")
    def charts() -> Response:
        # start-up time: jug --help imports every command module
        from ..status.webcharts import collect, render

        try:
            html, code = render(collect(source.store, source.summary())), 200
        except Exception as e:  # shown in place of the charts, never a broken page
            html, code = f"<p class='failed'>Cannot draw the charts: {_escape(str(e))}</p>", 500
        return Response(html, status=code, mimetype="text/html",
                        headers={"Cache-Control": "no-store"})

    @app.route("/status.json")
    def status() -> Response:
        try:
            doc = source.summary()
            code = 200
        except JugfileError as e:
            doc, code = {"error": str(e)}, 500
        except Exception as e:  # the store went away, etc.: show it on the page
            doc, code = {"error": f"{type(e).__name__}: {e}"}, 500
        return Response(json.dumps(doc, default=str), status=code, mimetype="application/json",
                        headers={"Cache-Control": "no-store"})

    return app


def _check_port(host: str, port: int) -> None:
    """Raise OSError (EADDRINUSE) now if ``host:port`` cannot be bound, before the server says so."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))


def run(args: Any) -> int:
    """Serve until interrupted."""
    try:
        import flask  # noqa: F401

        # optional dependency (the web extra), and start-up time
        from werkzeug.serving import make_server
    except ImportError:
        print(f"jug: {_NO_FLASK}", file=sys.stderr)
        return 2
    try:
        store = open_store_or_fail(args)
        source = StatusSource(args.jugfile, store, getattr(args, "jugfile_args", None))
        try:
            source.summary()  # fail now, not in the browser, if the jugfile is broken
        except JugfileError as e:
            raise CommandError(str(e)) from None
    except CommandError as e:
        return report(e)
    app = make_app(source, float(args.refresh))
    if args.verbose != "debug":  # one log line per refresh would flood the terminal
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        _check_port(args.host, int(args.port))
        server = make_server(args.host, int(args.port), app, threaded=True)
    except (OSError, SystemExit) as e:
        busy = isinstance(e, SystemExit) or getattr(e, "errno", None) == errno.EADDRINUSE
        why = "is already in use" if busy else f"cannot be opened: {e}"
        print(f"jug: port {args.port} on {args.host} {why}. Choose another one with --port "
              "(or --port 0 for any free port).", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{server.server_port}/"
    print(f"jug webstatus: serving {url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
