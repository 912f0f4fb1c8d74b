"""--from-s and --until-s as traces are loaded: worked numbers for rate series and request
lists, the same window of demand, the window cut before idle gaps are shortened, the
refusals, and ServeGen cut on load equal to the `head -n 1009` file it replaces."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulations.backtest.loaders import load_file
from simulations.traces.loader import load_trace
from simulations.traces.rate_series import RateSeries, load_rate_series
from simulations.traces.scale import TraceScale
from simulations.traces.servegen import servegen_rate_series
from simulations.traces.window import WHOLE, TraceWindow, check_window, windowed_series
from tests.simulations.format_samples import SERVEGEN_HEADER

RATE_HEADER = "t_s,rate_rps,input_tokens_per_s,output_tokens_per_s"
# Four 600 s rows; the file starts at 1,000 s, which the reader shifts to 0.
RATE_ROWS = ["1000,1,2000,30", "1600,2,4000,60", "2200,3,6000,90", "2800,4,8000,120"]
# BurstGPT's Timestamp is seconds; arrivals 0, 1, 2.5, 4 and 10 s after the first.
BURST_HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"
BURST_ROWS = [
    f"{t:g},ChatGPT,{p},{o},{p + o},Conversation log"
    for t, p, o in ((50, 100, 1), (51, 200, 2), (52.5, 300, 3), (54, 400, 4), (60, 500, 5))
]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_rate_series_keeps_the_rows_starting_in_the_window_shifted_to_0(
    tmp_path: Path,
) -> None:
    # Rows at 0, 600, 1,200, 1,800 s (as loaded); [500, 1,800) keeps those at 600 and 1,200.
    series = load_rate_series(_write(tmp_path / "rate.csv", RATE_HEADER, RATE_ROWS))
    cut = windowed_series(series, TraceWindow(from_s=500.0, until_s=1800.0))
    assert cut.t_s.tolist() == [0.0, 600.0]
    assert cut.rate_rps.tolist() == [2.0, 3.0]
    assert cut.input_tokens_per_s is not None and cut.output_tokens_per_s is not None
    assert cut.input_tokens_per_s.tolist() == [4000.0, 6000.0]
    assert cut.output_tokens_per_s.tolist() == [60.0, 90.0]
    assert cut.end_s == 1200.0  # the last kept row is kept whole
    assert cut.meta == {"from_s": 500.0, "until_s": 1800.0}
    # Bounds: from is inclusive, until exclusive.
    assert windowed_series(series, TraceWindow(600.0, 1200.0)).rate_rps.tolist() == [2.0]
    assert windowed_series(series, TraceWindow(until_s=1e9)).rate_rps.tolist() == [1, 2, 3, 4]
    assert windowed_series(series, WHOLE) is series


def test_a_windowed_rate_file_replays_as_the_file_of_its_rows(tmp_path: Path) -> None:
    full = _write(tmp_path / "rate.csv", RATE_HEADER, RATE_ROWS)
    rows = _write(tmp_path / "rows.csv", RATE_HEADER, RATE_ROWS[1:3])
    window = TraceWindow(from_s=600.0, until_s=1800.0)
    cut = load_trace(full, "rate", seed=4, window=window)
    by_hand = load_trace(rows, "rate", seed=4)
    assert cut.n_requests > 1000  # ~(2 + 3) x 600
    for name in ("arrival_s", "prompt_tokens", "output_tokens"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(by_hand, name), name)
    assert cut.describe()["from_s"] == 600.0 and cut.describe()["until_s"] == 1800.0
    whole = load_trace(full, "rate", seed=4)
    assert whole.n_requests > 1.5 * cut.n_requests  # the window did cut


def test_a_request_list_keeps_the_requests_in_the_window_shifted_to_0(tmp_path: Path) -> None:
    path = _write(tmp_path / "burst.csv", BURST_HEADER, BURST_ROWS)
    cut = load_trace(path, "burstgpt", window=TraceWindow(from_s=1.0, until_s=4.0))
    assert cut.arrival_s.tolist() == [0.0, 1.5]  # the requests at 1 and 2.5 s
    assert cut.prompt_tokens.tolist() == [200, 300]
    assert cut.output_tokens.tolist() == [2, 3]
    tail = load_trace(path, "burstgpt", window=TraceWindow(from_s=3.0))
    assert tail.arrival_s.tolist() == [0.0, 6.0]  # 4 and 10 s: shifted by the first kept
    head = load_trace(path, "burstgpt", window=TraceWindow(until_s=2.5))
    assert head.prompt_tokens.tolist() == [100, 200]


def test_the_window_and_the_length_scale_commute(tmp_path: Path) -> None:
    path = _write(tmp_path / "burst.csv", BURST_HEADER, BURST_ROWS)
    both = load_trace(path, "burstgpt", scale=TraceScale(length=2.0), window=TraceWindow(1.0))
    assert both.arrival_s.tolist() == [0.0, 1.5, 3.0, 9.0]
    assert both.prompt_tokens.tolist() == [400, 600, 800, 1000]


def test_the_window_is_cut_before_idle_gaps_are_shortened(tmp_path: Path) -> None:
    # Requests at 0 and 1 s, then two 10.5 days later: shortened, that gap would leave
    # them ~1.5 days in, and a window from day 10 would keep nothing.
    late = 10.5 * 86400
    rows = [f"{t:g},ChatGPT,100,1,101,Conversation log" for t in (0, 1, late, late + 60)]
    path = _write(tmp_path / "gap.csv", BURST_HEADER, rows)
    whole = load_trace(path, "burstgpt")
    assert whole.meta["idle_gaps_shortened"] == 1
    cut = load_trace(path, "burstgpt", window=TraceWindow(from_s=10 * 86400.0))
    assert cut.arrival_s.tolist() == [0.0, 60.0]
    assert "idle_gaps_shortened" not in cut.meta


def test_rate_demand_takes_the_same_rows(tmp_path: Path) -> None:
    full = _write(tmp_path / "rate.csv", RATE_HEADER, RATE_ROWS)
    rows = _write(tmp_path / "rows.csv", RATE_HEADER, RATE_ROWS[1:3])
    window = TraceWindow(from_s=600.0, until_s=1800.0)
    for quantity in ("tokens", "requests"):
        cut = load_file(full, "rate", quantity, window=window)
        by_hand = load_file(rows, "rate", quantity)
        assert cut.start_s == by_hand.start_s == 0.0
        np.testing.assert_array_equal(cut.values, by_hand.values)
        assert "rows --from-s 600 --until-s 1800" in cut.note
    assert load_file(full, "rate", "tokens", window=window).values.tolist() == [
        4060.0,
        6090.0,
    ]


def test_request_list_demand_buckets_the_window(tmp_path: Path) -> None:
    path = _write(tmp_path / "burst.csv", BURST_HEADER, BURST_ROWS)
    cut = load_file(path, "burstgpt", "tokens", bucket_s=3.0, window=TraceWindow(from_s=1.0))
    # Kept: 1 s (202 tokens), 2.5 s (303), 4 s (404) and 10 s (505), now at 0, 1.5, 3 and 9:
    # three complete 3 s buckets (the one holding the last request is dropped, as ever).
    assert cut.values.tolist() == [505 / 3, 404 / 3, 0.0]
    assert cut.note == "requests --from-s 1"  # the series line says what was kept
    assert load_file(path, "burstgpt", "tokens", bucket_s=3.0).note == ""


NOT_SECONDS = "must be a finite number of seconds >= 0, got"


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (TraceWindow(from_s=-1.0), f"--from-s {NOT_SECONDS} -1"),
        (TraceWindow(until_s=math.inf), f"--until-s {NOT_SECONDS} inf"),
        (TraceWindow(from_s=math.nan), f"--from-s {NOT_SECONDS} nan"),
        (TraceWindow(5.0, 5.0), "--until-s 5 must be after --from-s 5"),
        (TraceWindow(10.0, 5.0), "--until-s 5 must be after --from-s 10"),
    ],
)
def test_a_window_that_is_not_an_interval_of_seconds_is_refused(
    window: TraceWindow, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_window(window)


def test_a_window_without_a_trace_file_is_refused() -> None:
    check_window(WHOLE, has_trace=False)  # the defaults are not "given"
    with pytest.raises(ValueError, match="--until-s 600: a window applies to a --trace file"):
        check_window(TraceWindow(until_s=600.0), has_trace=False)


def test_messages_show_the_bounds_as_typed() -> None:
    # Two weeks are 7 digits: not 1.2096e+06, which :g would print.
    assert TraceWindow(1209600.0, 1e7).options == "--from-s 1209600 --until-s 10000000"
    assert TraceWindow(until_s=0.5).options == "--until-s 0.5"


def test_a_window_that_keeps_nothing_names_the_span(tmp_path: Path) -> None:
    rate = _write(tmp_path / "rate.csv", RATE_HEADER, RATE_ROWS)
    with pytest.raises(
        ValueError, match=r"--from-s 900000 keeps no row of .*rate.csv \(it spans 0-1,800 s\)"
    ):
        load_trace(rate, "rate", window=TraceWindow(from_s=900000.0))
    with pytest.raises(ValueError, match=r"keeps no row of .*rate.csv \(it spans 0-1,800 s\)"):
        load_file(rate, "rate", window=TraceWindow(from_s=100.0, until_s=500.0))
    burst = _write(tmp_path / "burst.csv", BURST_HEADER, BURST_ROWS)
    with pytest.raises(
        ValueError, match=r"--from-s 11 keeps no request of .*burst.csv \(it spans 0-10 s\)"
    ):
        load_trace(burst, "burstgpt", window=TraceWindow(from_s=11.0))


def _servegen_eight_days(path: Path) -> Path:
    """Eight days of 600 s ServeGen rows from t_s 0, collection gaps on days 3 and 8."""
    rng = np.random.default_rng(9)
    rows = [SERVEGEN_HEADER]
    for i in range(8 * 144):
        t = 600 * i
        if i in (400, 1100):
            rows.append(f"{t},0,0,0,0,0,0")
            continue
        rate = float(rng.uniform(0.01, 0.05))
        covered = rate * float(rng.uniform(0.3, 0.5))
        est_in, est_out = covered * float(rng.uniform(100, 200)), covered * 30
        rows.append(f"{t},{rate!r},20,{covered!r},{est_in!r},{est_out!r},1.5")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_servegen_until_one_week_is_the_head_cut_file(tmp_path: Path) -> None:
    full = _servegen_eight_days(tmp_path / "aggregate_8d.csv")
    head = tmp_path / "aggregate_7d.csv"  # head -n 1009: the header and 1,008 rows
    head.write_text("".join(full.read_text().splitlines(keepends=True)[:1009]))
    week = TraceWindow(until_s=604800.0)
    cut = windowed_series(servegen_rate_series(full), week)
    by_head = servegen_rate_series(head)
    assert cut.t_s.size == 1008 and cut.t_s[-1] == 604200.0
    for name in ("t_s", "rate_rps", "input_tokens_per_s", "output_tokens_per_s"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(by_head, name), err_msg=name)
    # The gaps are counted in the window, not in the whole file.
    assert servegen_rate_series(full).meta["collection_gaps_bridged"] == 2
    assert cut.meta["collection_gaps_bridged"] == by_head.meta["collection_gaps_bridged"] == 1
    last_day = windowed_series(servegen_rate_series(full), TraceWindow(from_s=604800.0))
    assert last_day.meta["collection_gaps_bridged"] == 1
    before = windowed_series(servegen_rate_series(full), TraceWindow(until_s=240000.0))
    assert "collection_gaps_bridged" not in before.meta  # none before the first, at row 400
    replayed = load_trace(full, "servegen", seed=1, window=week)
    by_hand = load_trace(head, "servegen", seed=1)
    assert replayed.n_requests > 10_000  # a week at ~0.03 req/s
    for name in ("arrival_s", "prompt_tokens", "output_tokens"):
        np.testing.assert_array_equal(getattr(replayed, name), getattr(by_hand, name), name)
    for quantity in ("tokens", "requests"):  # what backtest and tune forecast
        demand = load_file(full, "servegen", quantity, window=week)
        np.testing.assert_array_equal(demand.values, load_file(head, "servegen", quantity).values)
    assert load_trace(full, "servegen", seed=1).n_requests > replayed.n_requests


def test_a_series_built_in_code_is_cut_the_same_way() -> None:
    series = RateSeries(t_s=np.array([0.0, 60.0, 120.0]), rate_rps=np.array([1.0, 2.0, 3.0]))
    cut = windowed_series(series, TraceWindow(from_s=60.0))
    assert cut.t_s.tolist() == [0.0, 60.0] and cut.rate_rps.tolist() == [2.0, 3.0]
    assert cut.input_tokens_per_s is None
