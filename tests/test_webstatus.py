"""``jug webstatus`` in a real headless Chromium: the page shows the counts and follows execute.

Needs Debian's ``chromium`` and ``chromium-driver`` (scripts/setup.sh --test installs them);
without them the browser test is skipped locally and FAILS in CI (``CI=true``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from test_cmd_helpers import BARRIER, IN_CI, ok, run_jug, start_jug, stop, wait_for, write_jugfile

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
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_exe), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
    table = wait_for(lambda: _table(browser), what="the first table")
    assert set(table) == {"jugfile.first", "Total"}
    assert _row(browser, "jugfile.first") == _row(browser, "Total") == ["0", "3", "0", "0", "0"]
    assert list(table["Total"])[:5] == ["waiting", "ready", "finished", "running", "failed"]
    barrier = browser.find_element(By.ID, "barrier").text  # type: ignore[attr-defined]
    assert "barrier" in barrier
    gen = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-generation"))  # type: ignore[attr-defined]
    wait_for(lambda: int(browser.find_element(  # type: ignore[attr-defined]
        By.TAG_NAME, "body").get_attribute("data-generation")) > gen, what="a refresh")

    ok("execute", jf, "--jugdir", jd, "--target", "jugfile.first")  # passes the barrier
    wait_for(lambda: _row(browser, "jugfile.second") == ["0", "1", "0", "0", "0"],
             what="the task after the barrier to appear")
    assert _row(browser, "jugfile.first") == ["0", "0", "0", "3", "0"]
    assert browser.find_element(By.ID, "barrier").text == ""  # type: ignore[attr-defined]

    ok("execute", jf, "--jugdir", jd)
    wait_for(lambda: _row(browser, "Total") == ["0", "0", "0", "4", "0"],
             what="every task finished on the page")
    assert "Updated" in browser.find_element(By.ID, "updated").text  # type: ignore[attr-defined]


def test_status_json_follows_the_store(server: tuple[Path, Path, str]) -> None:
    jf, jd, url = server
    doc = _json(url)
    assert doc["total"]["ready"] == 3 and doc["incomplete"] is True
    ok("execute", jf, "--jugdir", jd)
    doc = _json(url)
    assert doc["total"]["finished"] == 4 and doc["incomplete"] is False
    with urllib.request.urlopen(url, timeout=10) as r:
        html = r.read().decode()
    assert "status.json" in html and "const REFRESH_MS = 300;" in html


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
        wait_for(lambda: _row(browser, "Total") == ["0", "0", "0", "0", "1"],
                 what="the failed count")
        text = browser.find_element(By.ID, "failures").text  # type: ignore[attr-defined]
        assert "jugfile.boom" in text and "boom number 7" in text
        assert _table(browser)["jugfile.fine"].get("crashed") == "1"
        locks = browser.find_element(By.ID, "locks").text  # type: ignore[attr-defined]
        assert "1 by dead workers" in locks
    finally:
        stop(proc)
