"""Finish-time histograms: bounded size, merged rates, and the timings document carrying them."""

from __future__ import annotations

import json

from jug.backends.dict_store import DictStore
from jug.state.history import MAX_BUCKETS, FinishHistogram, FinishTimes
from jug.state.timings import TimingRecorder


def test_histogram_stays_small_and_keeps_every_count() -> None:
    h = FinishHistogram()
    for i in range(20000):  # one task every 7 s for 39 hours
        h.add(1000.0 + 7 * i)
    assert len(h.counts) <= MAX_BUCKETS and sum(h.counts.values()) == 20000
    assert h.width > 10 and FinishHistogram.from_doc(h.to_doc()) == h


def test_rate_over_the_window_merges_workers() -> None:
    now = 10_000.0
    docs = {}
    for w in range(3):
        h = FinishHistogram()
        for i in range(60):  # each worker: one task every 5 s over the last 300 s
            h.add(now - 300 + 5 * i + w)
        docs[f"w{w}"] = {"finished": h.to_doc()}
    docs["old"] = {"finished": {"width": 10.0, "buckets": [[now - 5000, 999]]}}  # outside
    docs["broken"] = {"finished": {"width": "x"}}
    times = FinishTimes.from_timing_docs(docs)
    assert times.total == 180 + 999
    assert abs(times.rate(now) - 180 / 300) < 0.05  # tasks per second
    assert FinishTimes().rate(now) is None
    steps = times.cumulative(base=5)
    assert steps[0][1] == 5 + 999 and steps[-1][1] == 5 + 999 + 180


class SerialisingStore(DictStore):
    """Keeps what was written, as a file or Redis store would (not the live dict)."""

    def write_doc(self, namespace: str, name: str, doc: dict) -> None:
        super().write_doc(namespace, name, json.loads(json.dumps(doc)))


def test_first_task_is_written_at_once_then_every_few_seconds() -> None:
    store = SerialisingStore()
    rec = TimingRecorder(store)
    rec.add("jugfile.work", 0.5)
    doc = store.read_docs("timings")[rec.name]
    assert doc["tasks"]["jugfile.work"]["count"] == 1 and doc["finished"]["buckets"][0][1] == 1
    rec.add("jugfile.work", 0.5)  # within FLUSH_SECONDS: not written yet
    assert store.read_docs("timings")[rec.name]["tasks"]["jugfile.work"]["count"] == 1
    rec.flush()
    assert store.read_docs("timings")[rec.name]["tasks"]["jugfile.work"]["count"] == 2
