"""The benchmark table's judgement of a target at the floor of the run (benchmarks/)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_common import Row, print_table  # noqa: E402


def test_a_time_target_scales_with_the_floor_of_the_run() -> None:
    row = Row.one("jug", "hashing", "ms", 43.0, 26.0, "pickle+sha1", "<= 30 ms",
                  lambda v, f: v <= 30, per_floor=30 / 15)
    assert row.scaled(43.0, 26.0) == ("<= 52 ms", "yes")
    assert row.scaled(53.0, 26.0) == ("<= 52 ms", "NO")
    assert row.scaled(43.0, None) == ("-", "-")


def test_a_speed_up_target_is_a_least_share_of_the_floor() -> None:
    row = Row.one("jug", "8 workers", "x", 5.5, 6.4, "plain Pythons", ">= 7",
                  lambda v, f: v >= 7, per_floor=7 / 8)
    assert row.scaled(5.5, 6.4) == (">= 5.60x", "NO")
    assert row.scaled(5.7, 6.4)[1] == "yes"


def test_the_table_shows_both_judgements(capsys) -> None:
    rows = [Row.one("jug", "Redis, per task", "us", 300.0, 220.0, "one round trip",
                    "<= 150 us", lambda v, f: v <= 150, per_floor=150 / 71),
            Row.one("jug", "status", "us", 3.5, None, "", "<= 4 us", lambda v, f: v <= 4)]
    print_table(rows, ["jug"])
    out = capsys.readouterr().out.splitlines()
    redis = next(line for line in out if line.startswith("Redis"))
    cells = [c.strip() for c in redis.split("|")]
    assert cells[-4:] == ["<= 150 us", "NO", "<= 465 us", "yes"]
    status = next(line for line in out if line.startswith("status"))
    assert [c.strip() for c in status.split("|")][-2:] == ["-", "-"]
