"""The walltime parser (``--walltime``, ``--margin``) over its whole space of inputs.

Only the forms SLURM, PBS and SGE read alike are accepted (``MM:SS``, ``HH:MM:SS``,
``D-HH:MM:SS``, whole-number units largest first); a bare number is refused for walltimes
(minutes to SLURM, seconds to PBS and SGE), and every refusal lists the forms that exist.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import FAKEPBS

from jug.hpc.job import DURATION_FORMS, SubmitError, parse_duration
from jug.schedulers import get_scheduler

SECONDS = st.integers(min_value=0, max_value=400 * 86400)


def walltime(text: str) -> int:
    return parse_duration(text, "walltime", bare_seconds=False)


@pytest.mark.parametrize("name", ["slurm", "pbs", "torque", "sge"])
@given(seconds=SECONDS)
def test_every_scheduler_format_parses_back(name: str, seconds: int) -> None:
    """What jug writes into a script (and prints) reads back as the same seconds."""
    assert walltime(get_scheduler(name).format_walltime(seconds)) == seconds


@given(minutes=st.integers(0, 10_000), seconds=st.integers(0, 59))
def test_two_fields_are_minutes_and_seconds(minutes: int, seconds: int) -> None:
    """SLURM reads ``MM:SS`` as minutes:seconds, PBS ``[[hh:]mm:]ss`` too: never hours."""
    assert walltime(f"{minutes}:{seconds:02d}") == minutes * 60 + seconds
    assert walltime(f"{minutes}:{seconds}") == minutes * 60 + seconds


@given(h=st.integers(0, 10_000), m=st.integers(0, 59), s=st.integers(0, 59))
def test_three_fields_are_hours_minutes_seconds(h: int, m: int, s: int) -> None:
    assert walltime(f"{h:02d}:{m:02d}:{s:02d}") == h * 3600 + m * 60 + s


@given(d=st.integers(0, 400), h=st.integers(0, 23), m=st.integers(0, 59), s=st.integers(0, 59))
def test_days_hours_minutes_seconds(d: int, h: int, m: int, s: int) -> None:
    assert walltime(f"{d}-{h:02d}:{m:02d}:{s:02d}") == d * 86400 + h * 3600 + m * 60 + s


UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@given(parts=st.dictionaries(st.sampled_from("dhms"), st.integers(0, 5000), min_size=1),
       sep=st.sampled_from(["", " "]), upper=st.booleans())
def test_units_largest_first_each_once(parts: dict, sep: str, upper: bool) -> None:
    text = sep.join(f"{parts[u]}{u.upper() if upper else u}" for u in "dhms" if u in parts)
    assert walltime(text) == sum(n * UNIT[u] for u, n in parts.items())


@given(seconds=SECONDS)
def test_units_round_trip(seconds: int) -> None:
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    assert walltime(f"{d}d{h}h{m}m{s}s") == seconds


@given(n=st.integers(0, 10**6), frac=st.sampled_from(["", ".5", ".0"]))
def test_bare_number_refused_for_walltime_seconds_for_margin(n: int, frac: str) -> None:
    with pytest.raises(SubmitError) as e:
        walltime(f"{n}{frac}")
    assert "bare number" in str(e.value) and DURATION_FORMS in str(e.value)
    assert "\n" not in str(e.value)
    assert parse_duration(f"{n}{frac}", "margin") == int(float(f"{n}{frac}"))


@given(d=st.integers(0, 99), h=st.integers(0, 23), m=st.integers(0, 59))
def test_slurm_only_day_forms_refused(d: int, h: int, m: int) -> None:
    """``D-HH`` and ``D-HH:MM`` are SLURM's alone: refused, with the forms that exist."""
    for text in (f"{d}-{h}", f"{d}-{h:02d}:{m:02d}"):
        with pytest.raises(SubmitError, match="malformed walltime") as e:
            walltime(text)
        assert DURATION_FORMS in str(e.value)


@given(text=st.one_of(
    st.builds("{}:{}".format, st.integers(0, 99), st.integers(60, 999)),  # seconds >= 60
    st.builds("{}:{}:{:02d}".format, st.integers(0, 99), st.integers(60, 99), st.integers(0, 59)),
    st.builds("{}-{}:00:00".format, st.integers(0, 9), st.integers(24, 99)),  # hours >= 24
    st.builds("{}m{}h".format, st.integers(0, 9), st.integers(0, 9)),  # smallest first
    st.builds("{}h{}h".format, st.integers(0, 9), st.integers(0, 9)),  # twice
    st.builds("{}.5h".format, st.integers(0, 9)),  # fractions of a unit
    st.builds("-{}m".format, st.integers(0, 9)),
    st.text(st.characters(codec="ascii"), max_size=12).filter(lambda t: not any(c.isdigit() for c in t)),
))
def test_malformed_forms_refused_in_one_line(text: str) -> None:
    with pytest.raises(SubmitError) as e:
        walltime(text)
    assert DURATION_FORMS in str(e.value) and "\n" not in str(e.value)


def test_30_minutes_on_every_scheduler(jug, project) -> None:
    """``--walltime 30:00`` asks each scheduler for 30 minutes (it asked for 30 hours)."""
    expected = {"slurm": "#SBATCH --time=00:30:00", "pbs": "#PBS -l walltime=00:30:00",
                "sge": "#$ -l h_rt=00:30:00"}
    for sched, line in expected.items():
        p = jug("submit", "--scheduler", sched, "--walltime", "30:00", "--margin", "5m",
                "--dry-run", "--no-check", "work.py", cwd=project)
        assert p.returncode == 0, p.stderr
        assert line in p.stdout.splitlines(), p.stdout


def test_bare_number_walltime_is_one_line_and_submits_nothing(jug, project, tmp_path) -> None:
    state = tmp_path / "fakepbs"
    p = jug("submit", "--scheduler", "pbs", "--walltime", "30", "work.py", cwd=project,
            path_prefix=str(FAKEPBS), env={"FAKEPBS_DIR": str(state)})
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "malformed walltime '30': a bare number" in p.stderr and DURATION_FORMS in p.stderr
    assert not (state / "calls.jsonl").exists() and not (project / "logs").exists()
