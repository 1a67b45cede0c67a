"""``jug webstatus`` in a real headless Chromium: the page shows the counts and follows execute.

Needs Debian's ``chromium`` and ``chromium-driver`` (scripts/setup.sh --test installs them);
without them the browser test is skipped locally and FAILS in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest
from support import BARRIER, IN_CI, ok, run_jug, start_jug, stop, wait_until, write_jugfile

from jug.backends import select_store

pytest.importorskip("flask")



def _serve(jf: Path, jd: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start webstatus on a free port; returns (process, base URL)."""
    proc = start_jug("webstatus", jf, "--jugdir", jd, "--port", "0", *extra)
    line = proc.stdout.readline() if proc.stdout else ""
    if "serving http://" not in line:
        out, err = stop(proc)
        raise AssertionError(f"webstatus did not start: {line}{out}{err}")
    url = line.split("serving ", 1)[1].split()[0]
    return proc, url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A webstatus server for the BARRIER jugfile: (jugfile, jugdir, URL)."""
    jf = write_jugfile(tmp_path, BARRIER)
    jd = tmp_path / "d.jugdata"
    proc, url = _serve(jf, jd, "--refresh", "0.3")
    yield jf, jd, url
    stop(proc)


def _json(url: str) -> dict:
    with urllib.request.urlopen(url + "status.json", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium through chromedriver, with a fresh profile."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if not chromium or not driver_exe:
        msg = "chromium / chromedriver not installed (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(msg + "; the webstatus browser test is required in CI", pytrace=False)
        pytest.skip(msg)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jug-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--window-size=1400,1250", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, read back
    drv = webdriver.Chrome(service=Service(executable_path=driver_exe), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)



def _text_of(drv: object, element_id: str) -> str:
    """The text of an element, read again if the page's refresh swapped it out meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    for _ in range(20):
        try:
            return drv.find_element(By.ID, element_id).text  # type: ignore[attr-defined]
        except StaleElementReferenceException:
            time.sleep(0.05)
    return drv.find_element(By.ID, element_id).text  # type: ignore[attr-defined]


def _table(drv: object) -> dict[str, dict[str, str]]:
    """The status table as ``{row name: {column (lower case): text}}``."""
    head, *rows = drv.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('#status tr'), tr =>"
        " Array.from(tr.cells, td => td.textContent));")  # one atomic read of the live table
    cols = [c.lower() for c in head[1:]]
    return {r[0]: dict(zip(cols, r[1:])) for r in rows if r}


def _row(drv: object, name: str) -> list[str] | None:
    """``[waiting, ready, running, finished, failed]`` of one row (None if absent)."""
    r = _table(drv).get(name)
    return None if r is None else [r.get(c, "?") for c in
                                   ("waiting", "ready", "running", "finished", "failed")]


@pytest.mark.chromium
def test_page_shows_counts_and_follows_execute(server: tuple[Path, Path, str],
                                               browser: object) -> None:
    from selenium.webdriver.common.by import By

    jf, jd, url = server
    assert url.startswith("http://127.0.0.1:")  # local by default
    browser.get(url)  # type: ignore[attr-defined]
    assert "jug status" in browser.title  # type: ignore[attr-defined]
    table = wait_until(lambda: _table(browser), what="the first table")
    assert set(table) == {"jugfile.first", "Total"}
    assert _row(browser, "jugfile.first") == _row(browser, "Total") == ["0", "3", "0", "0", "0"]
    assert list(table["Total"])[:5] == ["waiting", "ready", "finished", "running", "failed"]
    barrier = _text_of(browser, "barrier")
    assert "barrier" in barrier
    gen = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-generation"))  # type: ignore[attr-defined]
    wait_until(lambda: int(browser.find_element(  # type: ignore[attr-defined]
        By.TAG_NAME, "body").get_attribute("data-generation")) > gen, what="a refresh")

    ok("execute", jf, "--jugdir", jd, "--target", "jugfile.first")  # passes the barrier
    wait_until(lambda: _row(browser, "jugfile.second") == ["0", "1", "0", "0", "0"],
             what="the task after the barrier to appear")
    assert _row(browser, "jugfile.first") == ["0", "0", "0", "3", "0"]
    assert browser.find_element(By.ID, "barrier").text == ""  # type: ignore[attr-defined]

    ok("execute", jf, "--jugdir", jd)
    wait_until(lambda: _row(browser, "Total") == ["0", "0", "0", "4", "0"],
             what="every task finished on the page")
    assert "Updated" in _text_of(browser, "updated")


def test_status_json_follows_the_store(server: tuple[Path, Path, str]) -> None:
    jf, jd, url = server
    doc = _json(url)
    assert doc["total"]["ready"] == 3 and doc["incomplete"] is True
    ok("execute", jf, "--jugdir", jd)
    doc = _json(url)
    assert doc["total"]["finished"] == 4 and doc["incomplete"] is False
    html = _get(url)
    assert "status.json" in html and "const REFRESH_MS = 300;" in html


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


class _Page(HTMLParser):
    """The status table of a page as ``{row name: {column: text}}``, and the text by id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.classes: dict[tuple[str, str], str] = {}  # (row, column) -> class of the cell
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []
        self._cell: list[str] | None = None
        self._cls = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self._open.append(a.get("id"))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell, self._cls = [], a.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self.classes[(self.rows[-1][0], str(len(self.rows[-1])))] = self._cls
            self._cell = None
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for i in self._open:
            if i:
                self.by_id[i] = self.by_id.get(i, "") + data

    def table(self) -> dict[str, dict[str, str]]:
        head, *rows = [r for r in self.rows if r]
        cols = [c.lower() for c in head[1:]]
        names = [r[0] for r in rows]
        rows = rows[:names.index("Total") + 1] if "Total" in names else rows  # not the charts'
        return {r[0]: dict(zip(cols, r[1:])) for r in rows}


def _page(url: str) -> _Page:
    p = _Page()
    p.feed(_get(url))
    return p


def test_first_response_holds_the_table_and_the_charts(server: tuple[Path, Path, str]) -> None:
    """Issue 21, item 5: rendered on the server, so curl (here urllib) sees the full table."""
    jf, jd, url = server
    page = _page(url)
    assert page.table() == {
        "jugfile.first": {"waiting": "0", "ready": "3", "finished": "0", "running": "0",
                          "failed": "0"},
        "Total": {"waiting": "0", "ready": "3", "finished": "0", "running": "0", "failed": "0"}}
    assert "barrier" in page.by_id["barrier"] and "0 of 3 finished" in page.by_id["eta"]
    html = _get(url)
    for chart in ("chart-finished", "chart-durations", "chart-workers"):
        assert f'id="{chart}"' in html
    ok("execute", jf, "--jugdir", jd)
    table = _page(url).table()
    assert table["jugfile.second"]["finished"] == "1" and table["Total"]["finished"] == "4"
    live = _get(url + "live")  # what the page's script swaps in: the same rendering
    assert live.count("<tr ") == 4 and 'id="chart-workers"' in live and "<html" not in live


def test_zero_counts_are_not_red_and_reasons_have_their_own_colours() -> None:
    from jug.state.shifts import ExitReason
    from jug.status.webcharts import COLOURS
    from jug.status.webpage import STATE_COLOURS, ZERO_COLOUR, render_live

    assert set(COLOURS) == {r.value for r in ExitReason}
    rgb = {k: _rgb(v) for k, v in COLOURS.items()}
    for a in rgb:  # no two reasons alike: blocked is not the red of a failed task
        for b in rgb:
            if a < b:
                assert sum(abs(x - y) for x, y in zip(rgb[a], rgb[b])) > 90, (a, b)
    assert ZERO_COLOUR != STATE_COLOURS["failed"]
    summary = {"tasks": {"a": {"waiting": 0, "ready": 1, "finished": 2, "running": 0,
                               "failed": 0, "crashed": 0}},
               "total": {"waiting": 0, "ready": 1, "finished": 2, "running": 0, "failed": 0,
                         "crashed": 0}, "locks": {"count": 0, "owners": []}}
    page = _Page()
    page.feed(render_live(summary, ""))
    assert page.table()["Total"]["failed"] == "0"
    assert page.classes[("Total", "6")] == "failed zero"  # the failed column of the total
    assert page.classes[("Total", "4")] == "finished"


def _record_chain(jf: Path, jd: Path) -> None:
    from jug.hpc.chain.records import Chain, Generation

    chain = Chain(jugfile=str(jf), jugdir=str(jd), workdir=str(jf.parent), scheduler="slurm",
                  settings={}, jugfile_args=[], max_workers=2, max_queued=None,
                  max_generations=21, stale_after=300.0, started=time.time() - 60)
    chain.generations = [Generation(n=n, arrays=[str(100 + n)], workers=2,
                                    submitted=time.time(), by="jug submit", after=n - 1,
                                    finished_before=0) for n in (1, 2)]
    chain.save(select_store(str(jd)))


def test_page_shows_the_chains_state(server: tuple[Path, Path, str]) -> None:
    jf, jd, url = server
    assert 'id="chain"' not in _get(url)  # no chain, no line
    _record_chain(jf, jd)
    page = _page(url)
    assert page.by_id["chain"].strip() == "chain running, generation 2 of at most 21"
    assert "generation 2: array(s) 102" in page.by_id["chain-lines"]


def test_without_flask_the_error_gives_the_checkouts_install_line(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, BARRIER)
    shim = tmp_path / "shim" / "flask"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named flask')\n")
    root = Path(__file__).resolve().parent.parent
    p = run_jug("webstatus", jf, "--port", "0", env={"PYTHONPATH": f"{shim.parent}:{root}"},
                timeout=30)
    assert p.returncode == 2 and "needs Flask" in p.stderr and p.stderr.count("\n") == 1
    assert "python -m pip install '.[web]'" in p.stderr
    readme = (root / "README.md").read_text()
    assert "Flask: `python -m pip install '.[web]'` in this checkout" in readme


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, BARRIER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        p = run_jug("webstatus", jf, "--jugdir", tmp_path / "d", "--port", port, timeout=30)
    assert p.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in p.stderr and "--port" in p.stderr
    assert time.monotonic() - t0 < 20


def test_broken_jugfile_fails_before_serving(tmp_path: Path) -> None:
    jf = write_jugfile(tmp_path, "raise RuntimeError('broken 23')\n")
    p = run_jug("webstatus", jf, "--port", "0", timeout=30)
    assert p.returncode == 1 and "broken 23" in p.stderr and "serving" not in p.stdout


@pytest.mark.chromium
def test_page_lists_failures(tmp_path: Path, browser: object) -> None:
    from selenium.webdriver.common.by import By

    jf = write_jugfile(tmp_path, """
    from jug import TaskGenerator
    @TaskGenerator
    def boom(i):
        raise ValueError(f"boom number {i}")
    t = boom(7)
    @TaskGenerator
    def fine(i):
        return i
    u = fine(1)
    """)
    jd = tmp_path / "d.jugdata"
    assert run_jug("execute", jf, "--jugdir", jd, "--target", "jugfile.boom").returncode != 0
    # 'fine' is locked by a process that no longer exists: a crashed task
    key = ok("shell", jf, "--jugdir", jd, "-c", "print(u.hash())").stdout.strip()
    dead = subprocess.Popen(["true"])
    dead.wait()
    store = select_store(str(jd))
    assert store.lock(key, {"host": socket.gethostname(), "pid": dead.pid,
                            "started": time.time(), "heartbeat": time.time()})
    proc, url = _serve(jf, jd)
    try:
        browser.get(url)  # type: ignore[attr-defined]
        wait_until(lambda: _row(browser, "Total") == ["0", "0", "0", "0", "1"],
                 what="the failed count")
        text = browser.find_element(By.ID, "failures").text  # type: ignore[attr-defined]
        assert "jugfile.boom" in text and "boom number 7" in text
        assert _table(browser)["jugfile.fine"].get("crashed") == "1"
        locks = browser.find_element(By.ID, "locks").text  # type: ignore[attr-defined]
        assert "1 by dead workers" in locks
        # a traceback the reader folded stays folded when the page refreshes
        tb = "#failures-tb details"
        assert browser.execute_script(f"return document.querySelector('{tb}').open")  # type: ignore[attr-defined]
        browser.execute_script(f"document.querySelector('{tb}').open = false")  # type: ignore[attr-defined]
        gen = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-generation"))  # type: ignore[attr-defined]
        wait_until(lambda: int(browser.find_element(  # type: ignore[attr-defined]
            By.TAG_NAME, "body").get_attribute("data-generation")) > gen, what="a refresh")
        assert browser.execute_script(f"return document.querySelector('{tb}').open") is False  # type: ignore[attr-defined]
    finally:
        stop(proc)


# A known store for the charts: real results and failure marks from a run, then fixed timings
# and worker records (times relative to now), so every chart has known content.
KNOWN = """
from jug import TaskGenerator

@TaskGenerator
def load(i):
    return i

@TaskGenerator
def fit(x):
    if x == 2:
        raise ValueError(f"no convergence for sample {x}")
    return x * 2

@TaskGenerator
def report(xs):
    return max(xs)

data = [load(i) for i in range(6)]
means = [fit(d) for d in data]
best = report(means)
"""


def _known_store(tmp_path: Path) -> tuple[Path, Path]:
    """The KNOWN jugfile run for 9 tasks (one failure), with fixed timings and worker records."""
    from jug.state.shifts import ExitReason, WorkerRecord

    jf = write_jugfile(tmp_path, KNOWN)
    jd = tmp_path / "known.jugdata"
    run_jug("execute", jf, "--jugdir", jd, "--keep-going", env={"JUG_MAX_TASKS": "9"})
    store = select_store(str(jd))
    for name in store.read_docs("timings"):
        store.remove_doc("timings", name)
    for name in store.read_docs("workers"):
        store.remove_doc("workers", name)
    now = time.time()
    store.write_doc("timings", "w1", {"time": now - 100, "tasks": {
        "jugfile.load": {"count": 6, "total": 3.0, "recent": [0.4, 0.45, 0.5, 0.5, 0.55, 0.6]},
        "jugfile.fit": {"count": 3, "total": 7.5, "recent": [2.0, 2.5, 3.0]},
        "jugfile.report": {"count": 1, "total": 1.0, "recent": [1.0]}},
        "finished": {"width": 10.0, "buckets": [[now - 300, 3], [now - 250, 3], [now - 200, 2],
                                                 [now - 150, 1]]}})
    for i, (reason, start, end, tasks) in enumerate([
            (ExitReason.NO_WORK, 320, 140, 5), (ExitReason.TASK_FAILED, 310, 190, 2),
            (ExitReason.BUDGET, 300, 150, 2)]):
        rec = WorkerRecord(name=f"node{i}-{100 + i}-1", host=f"node{i}", pid=100 + i, job=None,
                           element=None, pool=None, jugfile=str(jf), started=now - start,
                           ended=now - end, reason=reason.value, tasks=tasks,
                           busy_seconds=tasks * 1.0, idle_seconds=3.0)
        store.write_doc("workers", rec.name, rec.__dict__)
    return jf, jd


_COUNT_PIXELS = """
const [b64, rects, colours, done] = [arguments[0], arguments[1], arguments[2], arguments[3]];
const img = new Image();
img.onload = () => {
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const out = {};
  for (const [id, r] of Object.entries(rects)) {
    const px = g.getImageData(r.x, r.y, r.w, r.h).data;
    out[id] = {};
    for (const [name, rgb] of Object.entries(colours)) {
      let n = 0;
      for (let i = 0; i < px.length; i += 4)
        if (Math.abs(px[i] - rgb[0]) + Math.abs(px[i + 1] - rgb[1]) + Math.abs(px[i + 2] - rgb[2]) < 30) n++;
      out[id][name] = n;
    }
  }
  done(out);
};
img.src = "data:image/png;base64," + b64;
"""


def _rgb(hex_colour: str, alpha: float = 1.0, bg: str = "#fafafa") -> list[int]:
    """``#rrggbb`` (drawn with ``alpha`` over ``bg``) as ``[r, g, b]``."""
    c = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(bg[i:i + 2], 16) for i in (1, 3, 5)]
    return [round(alpha * x + (1 - alpha) * y) for x, y in zip(c, b)]


@pytest.mark.chromium
def test_charts_of_a_known_store(tmp_path: Path, browser: object) -> None:
    from selenium.webdriver.common.by import By

    from jug.status.webcharts import COLOURS

    jf, jd = _known_store(tmp_path)
    proc, url = _serve(jf, jd, "--refresh", "30")
    try:
        browser.get(url)  # type: ignore[attr-defined]
        wait_until(lambda: browser.find_element(  # type: ignore[attr-defined]
            By.TAG_NAME, "body").get_attribute("data-charts"), what="the charts")
        find = browser.find_elements  # type: ignore[attr-defined]
        assert _row(browser, "Total") == ["1", "2", "0", "9", "1"]
        # each chart has drawn elements
        points = find(By.CSS_SELECTOR, "#chart-finished polyline.done")[0].get_attribute("points")
        assert len(points.split()) >= 8
        assert find(By.CSS_SELECTOR, "#chart-finished line.projection")
        assert len(find(By.CSS_SELECTOR, "#chart-durations circle")) == 10
        assert len(find(By.CSS_SELECTOR, "#chart-durations line.median")) == 3
        bars = find(By.CSS_SELECTOR, "#chart-workers rect.worker")
        assert [b.get_attribute("fill") for b in bars] == [
            COLOURS["no work left"], COLOURS["task failed"], COLOURS["budget"]]
        details = find(By.CSS_SELECTOR, "#failures-tb details")
        assert len(details) == 1
        assert "ValueError: no convergence for sample 2" in details[0].text
        pre = details[0].find_element(By.TAG_NAME, "pre").get_attribute("textContent")
        assert 'raise ValueError(f"no convergence for sample {x}")' in pre
        eta = browser.find_element(By.ID, "eta").text  # type: ignore[attr-defined]
        assert "9 of 13 finished (69%)" in eta and "ETA: about" in eta
        _check_layout_and_colours(browser)
        # no console errors, nothing fetched from elsewhere
        logs = browser.get_log("browser")  # type: ignore[attr-defined]
        assert not [e for e in logs if e["level"] == "SEVERE"], logs
        hosts = browser.execute_script(  # type: ignore[attr-defined]
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).host);")
        assert set(hosts) <= {url.split("/")[2]}
        _compare_screenshot(browser, tmp_path)
    finally:
        stop(proc)


def _check_layout_and_colours(browser: object) -> None:
    """Issue 21, item 5: the page uses the window's width; a zero count is grey, not red."""
    from jug.status.webpage import STATE_COLOURS, ZERO_COLOUR

    got = browser.execute_script(  # type: ignore[attr-defined]
        "const w = id => document.getElementById(id).getBoundingClientRect().width;"
        "const c = sel => getComputedStyle(document.querySelector(sel)).color;"
        "return {window: window.innerWidth, table: w('status'), charts: w('charts'),"
        " chart: w('chart-finished'), zero: c('#total td.running'),"
        " failed: c('#total td.failed')};")
    assert got["table"] >= 0.9 * got["window"] and got["charts"] >= 0.9 * got["window"], got
    assert got["chart"] > 640, got  # wider than the old fixed 640-pixel chart
    assert got["zero"] == "rgb({}, {}, {})".format(*_rgb(ZERO_COLOUR)), got
    assert got["failed"] == "rgb({}, {}, {})".format(*_rgb(STATE_COLOURS["failed"])), got


def _compare_screenshot(browser: object, tmp_path: Path) -> None:
    """The screenshot shows each chart's colours where the chart is (decoded by Chromium)."""
    from jug.status.webcharts import COLOURS, DONE_COLOUR, PROJECTION_COLOUR, SAMPLE_COLOUR

    png = browser.get_screenshot_as_base64()  # type: ignore[attr-defined]
    (tmp_path / "webstatus.png").write_bytes(__import__("base64").b64decode(png))
    if os.environ.get("JUG_UPDATE_GOLDEN"):  # the README's picture
        (Path(__file__).parent.parent / "docs").mkdir(exist_ok=True)
        shutil.copy(tmp_path / "webstatus.png", Path(__file__).parent.parent / "docs/webstatus.png")
    rects = browser.execute_script(  # type: ignore[attr-defined]
        "const o = {}; for (const id of ['chart-finished', 'chart-durations', 'chart-workers']) {"
        " const r = document.getElementById(id).getBoundingClientRect();"
        " o[id] = {x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width),"
        " h: Math.round(r.height)}; } return o;")
    colours = {"done": _rgb(DONE_COLOUR), "projection": _rgb(PROJECTION_COLOUR),
               "sample": _rgb(SAMPLE_COLOUR, 0.6), "no work left": _rgb(COLOURS["no work left"]),
               "task failed": _rgb(COLOURS["task failed"]), "budget": _rgb(COLOURS["budget"])}
    browser.set_script_timeout(30)  # type: ignore[attr-defined]
    seen = browser.execute_async_script(_COUNT_PIXELS, png, rects, colours)  # type: ignore[attr-defined]
    print("pixels per colour and chart:", seen)
    assert seen["chart-finished"]["done"] > 300 and seen["chart-finished"]["projection"] > 50, seen
    assert seen["chart-durations"]["sample"] > 50, seen
    bars = seen["chart-workers"]
    areas = [bars["task failed"], bars["budget"]]
    assert min(areas) > 2000, seen  # each worker's bar is drawn, in its reason's colour
    assert bars["no work left"] > max(areas), seen  # the longest-lived worker, the longest bar
