"""Traces whose span, timestamps or encoding would run away: idle gaps are shortened (and
said so), what is left too long is refused naming the file and the limit, and hostile files
are TraceFormatErrors naming file and line, before anything is allocated per second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.traces.loader import load_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import (
    DAY_S,
    MAX_REPLAY_SPAN_S,
    check_replay_span,
    trim_idle_gaps,
    trimmed_note,
)
from tests.fakes import make_profile

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
BURST_HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def _trace(arrival_s: list[float]) -> RequestTrace:
    n = len(arrival_s)
    return RequestTrace("t", np.asarray(arrival_s), np.ones(n, np.int32), np.ones(n, np.int32))


def test_a_two_row_azure_trace_ten_years_apart_loads_as_a_day_or_two(tmp_path: Path) -> None:
    path = tmp_path / "decade.csv"
    path.write_text(AZURE_HEADER + "2013-11-16 18:17:03.50,100,10\n2023-11-16 06:17:03.25,100,10\n")
    trace = load_trace(path, "azure")
    assert DAY_S <= trace.duration_s < 2 * DAY_S
    assert trace.duration_s == pytest.approx(1.5 * DAY_S - 0.25)  # time of day kept
    assert trace.meta["idle_gaps_shortened"] == 1
    assert "1 idle gap(s) of over 7 days shortened" in trimmed_note(trace)


def test_idle_gaps_up_to_a_week_are_replayed_as_they_are() -> None:
    trace = _trace([0.0, 6.5 * DAY_S, 13 * DAY_S])
    assert trim_idle_gaps(trace) is trace
    assert trimmed_note(trace) == ""


def test_every_long_gap_keeps_its_time_of_day() -> None:
    arrival = [0.0, 100.0, 30 * DAY_S + 500.0, 30 * DAY_S + 600.0, 1e11]
    trimmed = trim_idle_gaps(_trace(arrival)).arrival_s
    gaps, new_gaps = np.diff(arrival), np.diff(trimmed)
    assert new_gaps[0] == 100.0 and new_gaps[2] == 100.0
    for i in (1, 3):
        assert DAY_S <= new_gaps[i] < 2 * DAY_S
        assert (gaps[i] - new_gaps[i]) % DAY_S == pytest.approx(0.0, abs=1e-3)


def test_a_trace_still_too_long_is_refused_naming_file_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    days = int(MAX_REPLAY_SPAN_S / DAY_S) + 5
    path.write_text(BURST_HEADER + "".join(f"{d * 86400},m,10,10,20,x\n" for d in range(days)))
    trace = load_trace(path, "burstgpt")
    with pytest.raises(TraceFormatError, match=r"long.csv: the trace spans 35.0 days") as err:
        check_replay_span(trace)
    assert "at most 31 days (MAX_REPLAY_SPAN_S" in str(err.value)
    # The one place that allocates per second refuses it too (emulate, warm-up back-fill).
    physics = FleetPhysics.from_profile(make_profile())
    with pytest.raises(TraceFormatError, match="MAX_REPLAY_SPAN_S"):
        OfferedLoad.from_trace(trace, physics)


@pytest.mark.parametrize(
    ("fmt", "content", "line", "words"),
    [
        ("burstgpt", (BURST_HEADER + "0,m,1,1,2,x\n1e300,m,1,1,2,x\n").encode(), 3, "<= 1e+11"),
        ("mooncake", b'{"timestamp": 1' + b"0" * 5000 + b', "input_length": 1}\n', 1, "4,300"),
        (
            "mooncake",
            b'{"timestamp": 1' + b"0" * 400 + b', "input_length": 1, "output_length": 1}\n',
            1,
            "timestamp must be milliseconds in [0, 1e+14]",
        ),
        ("mooncake", b'{"timestamp": ' + b"[" * 100_000 + b"\n", 1, "not valid JSON"),
        ("mooncake", '{"timestamp": 0}\n'.encode("utf-16"), 1, "not UTF-8 text"),
        (
            "mooncake",
            b'{"timestamp": 0, "input_length": 1, "output_length": 1}\n\xff\xfe\n',
            2,
            "UTF-8",
        ),
        ("mooncake", bytes(range(256)) * 4, 1, "not valid JSON"),
        ("rate", b"t_s,rate_rps\n0,1\n1e12,1\n", 3, "t_s must be <= 1e+11"),
    ],
    ids=[
        "burstgpt-1e300",
        "mooncake-5000-digits",
        "mooncake-400-digits",
        "mooncake-deep-json",
        "mooncake-utf16",
        "mooncake-binary-line",
        "mooncake-binary",
        "rate-1e12",
    ],
)
def test_hostile_files_name_file_line_and_problem(
    tmp_path: Path, fmt: str, content: bytes, line: int, words: str
) -> None:
    path = tmp_path / f"hostile.{fmt}"
    path.write_bytes(content)
    with pytest.raises(TraceFormatError) as err:
        load_trace(path, fmt)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert words in str(err.value)
    assert len(str(err.value)) < 300  # a 5,000-digit cell is quoted, not pasted
