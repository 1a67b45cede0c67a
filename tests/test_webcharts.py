"""The SVG charts as markup: well-formed, escaped, and sensible on an empty store."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jug.state.shifts import WorkerRecord
from jug.status.webcharts import ChartData, render

SVG = "{http://www.w3.org/2000/svg}"


def _svgs(html: str) -> dict[str, ET.Element]:
    """Every ``<svg>`` of the fragment, parsed as XML (so it must be well-formed)."""
    out = {}
    for part in html.split("<svg")[1:]:
        text = "<svg xmlns='http://www.w3.org/2000/svg'" + part.split("</svg>")[0] + "</svg>"
        el = ET.fromstring(text)
        out[el.get("id")] = el
    return out


def test_empty_store_draws_placeholders() -> None:
    html = render(ChartData(now=1000.0, total=5, finished=0, eta=None, progress=[]))
    svgs = _svgs(html)
    assert set(svgs) == {"chart-finished", "chart-durations", "chart-workers"}
    assert "no task has run yet" in html and "no worker has started yet" in html
    assert "No task failed." in html and "class=\"projection\"" not in html


def test_names_and_tracebacks_are_escaped() -> None:
    rec = WorkerRecord(name="w", host="<b>host</b>", pid=1, job=None, element=None, pool=None,
                       jugfile="j", started=900.0, ended=950.0, reason="error",
                       detail="<script>x</script>")
    d = ChartData(now=1000.0, total=4, finished=2, eta=50.0,
                  progress=[(900.0, 0), (910.0, 1), (960.0, 2)],
                  durations={"a<&>": [0.001, 0.5, 2.0]}, workers=[rec],
                  failures=[{"task": "t<i>", "hash": "ab" * 20, "first_line": "E: <x>",
                             "traceback": "Traceback\n  <frame>"}])
    html = render(d)
    assert "<script>" not in html and "<b>" not in html and "&lt;frame&gt;" in html
    svgs = _svgs(html)
    assert len(svgs["chart-durations"].findall(f".//{SVG}circle")) == 3
    assert svgs["chart-finished"].find(f".//{SVG}line[@class='projection']") is not None
    (bar,) = svgs["chart-workers"].findall(f".//{SVG}rect")
    assert float(bar.get("width")) > 100  # 50 of the 100 s shown
