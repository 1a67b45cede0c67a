"""``jug webstatus``: a local web page with the status table and charts, refreshing itself.

A small Flask application: ``/`` is the page, rendered on the server with the table, the
chain's state, the failures and the charts (:mod:`jug.status.webpage`,
:mod:`jug.status.webcharts`), so the first response is complete (curl and headless
screenshots see it); its script asks for ``/live`` (the same part, rendered again) every
``--refresh`` seconds and swaps it in.  ``/status.json`` is the ``jug status --json``
document; the page loads nothing from elsewhere.  The jugfile is loaded once and again when
it changes on disk or while it stops at a barrier; each refresh reads the store in bulk.  Binds to 127.0.0.1 unless ``--host`` says otherwise (the page has no login).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import threading
from html import escape as html_escape
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

_NO_FLASK = ("jug webstatus needs Flask, which is not installed. Install it in the jug "
             "checkout with: python -m pip install '.[web]' (or: python -m pip install flask); "
             "not pip install 'jug[web]', which installs the unrelated Jug of the package index.")

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
            from .status import add_chain, add_pools

            add_chain(doc, self.store, self.loaded.path or self.jugfile)
            add_pools(doc, self.store, self.jugfile)
            doc["generation"] = self.generation
            doc["total_line"] = total_line(doc)
            return doc

    def live(self) -> tuple[str, int]:
        """The live part of the page (table, chain, failures, charts) and its generation."""
        # start-up time: jinja2 and the renderers only when the page is served
        from ..status.webcharts import collect, render
        from ..status.webpage import render_live

        doc = self.summary()
        try:
            charts = render(collect(self.store, doc))
        except Exception as e:  # shown in place of the charts, never a broken page
            charts = f"<p class='failed'>Cannot draw the charts: {html_escape(str(e))}</p>"
        return render_live(doc, charts), int(doc["generation"])


def _error_text(e: Exception) -> str:
    """What the page says when the status cannot be read (the jugfile broke, the store went)."""
    return str(e) if isinstance(e, JugfileError) else f"{type(e).__name__}: {e}"


def make_app(source: StatusSource, refresh: float) -> Any:
    """The Flask application: the page (``/``, complete as served), its live part (``/live``,
    what the page's script swaps in), ``/charts`` and ``/status.json``."""
    from flask import Flask, Response  # optional dependency (the web extra), and start-up time

    from ..status.webpage import render_page  # start-up time, as flask

    app = Flask("jug.webstatus")
    fresh = {"Cache-Control": "no-store"}

    @app.route("/")
    def page() -> Response:
        try:
            (live, generation), error, code = source.live(), "", 200
        except Exception as e:  # the page still comes, saying why it has no table
            live, generation, error, code = "", 0, f"Cannot read the status: {_error_text(e)}", 500
        html = render_page(live, os.path.basename(source.jugfile), os.path.abspath(source.jugfile),
                           source.store.description, refresh, generation, error)
        return Response(html, status=code, mimetype="text/html", headers=fresh)

    @app.route("/live")
    def live() -> Response:
        try:
            return Response(source.live()[0], mimetype="text/html", headers=fresh)
        except Exception as e:  # the page keeps its last table and shows this line
            return Response(_error_text(e), status=500, mimetype="text/plain", headers=fresh)

    @app.route("/charts")
    def charts() -> Response:
        # start-up time: jug --help imports every command module
        from ..status.webcharts import collect, render

        try:
            html, code = render(collect(source.store, source.summary())), 200
        except Exception as e:  # shown in place of the charts, never a broken page
            html, code = f"<p class='failed'>Cannot draw the charts: {html_escape(str(e))}</p>", 500
        return Response(html, status=code, mimetype="text/html", headers=fresh)

    @app.route("/status.json")
    def status() -> Response:
        try:
            doc, code = source.summary(), 200
        except Exception as e:  # the store went away, etc.: the document says so
            doc, code = {"error": _error_text(e)}, 500
        return Response(json.dumps(doc, default=str), status=code, mimetype="application/json",
                        headers=fresh)

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
