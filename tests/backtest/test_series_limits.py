"""Backtest inputs that would run away: long silences are shortened (and said so), spans and
runs past the limits are refused naming the source, the sizes and the limit, before any
array of buckets or forecasts exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoscaler.backtest.evaluate import check_scorable
from autoscaler.backtest.series import MAX_SERIES_BUCKETS, DemandSeries
from autoscaler.backtest.size import MAX_FORECAST_VALUES
from simulations.backtest.loaders import load_request_trace, load_value_csv
from simulations.backtest.sources import SourceError, SourceSpec
from simulations.traces.request_trace import TraceFormatError


def test_a_1e10_s_pause_in_a_value_csv_is_shortened_and_said(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("t_s,value\n0,10\n60,10\n120,10\n10000000120,20\n10000000180,20\n")
    series = load_value_csv(path)
    assert series.n_buckets < 3 * 1440  # was 166,666,670 buckets, 5.4 GB
    assert "1 idle gap(s) of over 7 days shortened" in series.note
    assert set(series.values[np.isfinite(series.values)]) == {10.0, 20.0}


def test_a_ten_year_request_trace_backtests_on_its_requests(tmp_path: Path) -> None:
    path = tmp_path / "decade.jsonl"
    path.write_text(
        '{"timestamp": 0, "input_length": 10, "output_length": 5}\n'
        '{"timestamp": 315360000000, "input_length": 10, "output_length": 5}\n'
    )
    series = load_request_trace(path, "mooncake")
    assert series.n_buckets <= 2 * 1440  # was 5,256,000 buckets and hours of forecasting
    assert "idle gap(s)" in series.note


def test_a_span_past_the_bucket_limit_is_refused_naming_file_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    path.write_text("t_s,value\n" + "".join(f"{t},1\n" for t in range(0, 7 * 86400, 3600)))
    with pytest.raises(ValueError, match=r"week.csv: the series spans 604,800,000 buckets") as err:
        load_value_csv(path, bucket_s=0.001)
    assert f"limit of {MAX_SERIES_BUCKETS:,} (MAX_SERIES_BUCKETS)" in str(err.value)


def test_an_absurd_time_is_a_format_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "far.csv"
    path.write_text("t_s,value\n0,1\n1e300,1\n")
    with pytest.raises(TraceFormatError, match=r"far.csv:3: t_s must be <= 1e\+11"):
        load_value_csv(path)


def _series(n_buckets: int, bucket_s: float = 60.0) -> DemandSeries:
    return DemandSeries(0.0, bucket_s, np.ones(n_buckets), "tokens/s", "s", "demand.csv")


@pytest.mark.parametrize(
    ("series", "steps", "words"),
    [
        (
            _series(5000),
            1667,
            [
                "demand.csv: the horizon is 1,667 buckets",
                "1,668 forecast steps",
                "MAX_HORIZON_STEPS",
            ],
        ),
        (
            _series(5000, 1.0),
            300,
            ["301 steps", "26,006,400 calibration error cells", "MAX_ERROR_CELLS"],
        ),
        (
            _series(MAX_SERIES_BUCKETS),
            121,
            ["122 steps", f"{MAX_FORECAST_VALUES:,} (MAX_FORECAST_VALUES)", "--stride-s"],
        ),
    ],
    ids=["horizon-steps", "error-ring", "forecast-values"],
)
def test_a_run_too_large_for_memory_is_refused_before_it_starts(
    series: DemandSeries, steps: int, words: list[str]
) -> None:
    with pytest.raises(ValueError) as err:
        check_scorable(series, steps, stride=1, warmup_s=0.0)
    for word in words:
        assert word in str(err.value)


def test_a_prometheus_look_back_past_the_limit_is_refused_before_asking() -> None:
    spec = SourceSpec(prometheus="http://prom:9090", model="m", end_s=0.0, lookback_s=1e12)
    with pytest.raises(SourceError, match=r"--lookback-s 1e\+12 is 16,666,666,667 buckets"):
        spec.check()
