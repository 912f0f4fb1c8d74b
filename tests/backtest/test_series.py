"""Re-bucketing sources onto the regular grid, and the file loaders' errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoscaler.backtest.rolling import horizon_steps
from autoscaler.backtest.series import from_events, from_segments
from simulations.backtest.loaders import load_file, load_value_csv
from simulations.traces.request_trace import TraceFormatError

NAN = float("nan")


def test_from_segments_worked_number() -> None:
    # 100/s on [0, 600), 200/s on [600, 1200), 900 s buckets: (100*600 + 200*300) / 900,
    # then the second bucket is covered only on [900, 1200): 200.
    s = from_segments(
        np.array([0.0, 600.0]), np.array([600.0, 600.0]), np.array([100.0, 200.0]), 900.0,
        unit="tokens/s", name="x", source="test",
    )  # fmt: skip
    np.testing.assert_allclose(s.values, [(100 * 600 + 200 * 300) / 900, 200.0])
    assert s.start_s == 0.0


def test_from_segments_finer_buckets_repeat_the_row_and_gaps_stay_nan() -> None:
    s = from_segments(
        np.array([0.0, 240.0]), np.array([120.0, 120.0]), np.array([5.0, 7.0]), 60.0,
        unit="tokens/s", name="x", source="test",
    )  # fmt: skip
    np.testing.assert_array_equal(s.values, [5, 5, NAN, NAN, 7, 7])


def test_from_segments_aligns_buckets_to_absolute_time() -> None:
    s = from_segments(
        np.array([90.0]), np.array([60.0]), np.array([3.0]), 60.0,
        unit="tokens/s", name="x", source="test",
    )  # fmt: skip
    assert s.start_s == 60.0 and s.values.tolist() == [3.0, 3.0]


def test_from_events_counts_tokens_in_complete_buckets() -> None:
    # Three requests of 1,030 tokens in bucket 0 -> 51.5 tok/s; bucket 1 empty = 0 demand;
    # the bucket holding the last arrival (2) is incomplete and dropped.
    s = from_events(
        np.array([1.0, 2.0, 30.0, 130.0]), np.array([1030.0, 1030, 1030, 5]), 60.0,
        unit="tokens/s", name="x", source="test",
    )  # fmt: skip
    np.testing.assert_allclose(s.values, [51.5, 0.0])


@pytest.mark.parametrize(
    ("horizon_s", "bucket_s", "steps"),
    [(300, 60, 5), (300, 600, 1), (600, 432.9, 2), (1, 60, 1), (300, 60.000000001, 5)],
    ids=["5-min-at-1-min", "shorter-than-bucket", "azure2024-spacing", "tiny", "float-noise"],
)
def test_horizon_steps(horizon_s: float, bucket_s: float, steps: int) -> None:
    assert horizon_steps(horizon_s, bucket_s) == steps


def test_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="horizon_s must be > 0"):
        horizon_steps(0, 60)


def test_value_csv_missing_row_is_a_gap_and_empty_cell_too(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t_s,value\n0,10\n60,20\n180,30\n240,\n300,50\n")
    s = load_value_csv(path)
    assert s.bucket_s == 60 and s.unit == "tokens/s"
    np.testing.assert_array_equal(s.values, [10, 20, NAN, 30, NAN, 50])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("t_s,value\n0,1\n60,abc\n", ":3: value is not a number"),
        ("t_s,value\n0,1\n0,2\n", ":3: t_s must increase"),
        ("t_s,value\n0,-1\n", ":2: value must be >= 0"),
        ("time,value\n0,1\n", ":1: header lacks column(s) t_s"),
        ("t_s,value\n", ":2: no rows after the header"),
    ],
    ids=["not-a-number", "not-increasing", "negative", "bad-header", "no-rows"],
)
def test_value_csv_errors_name_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_value_csv(path)


def test_servegen_rows_without_clients_are_gaps(tmp_path: Path) -> None:
    path = tmp_path / "aggregate_x.csv"
    header = (
        "t_s,rate_rps,active_clients,covered_rate_rps,est_input_tok_per_s_covered,"
        "est_output_tok_per_s_covered,rate_weighted_client_cv"
    )
    path.write_text(f"{header}\n0,10,20,5,1000,100,1\n600,0,0,0,0,0,0\n1200,12,20,6,2000,200,1\n")
    tokens = load_file(path, "servegen")
    np.testing.assert_array_equal(tokens.values, [1100, NAN, 2200])
    assert tokens.bucket_s == 600 and tokens.unit == "tokens/s"
    requests = load_file(path, "servegen", "requests")
    np.testing.assert_array_equal(requests.values, [10, NAN, 12])


def test_azure2024_digitized_is_requests_per_second(tmp_path: Path) -> None:
    path = tmp_path / "azure2024_code_requests_per_min_digitized.csv"
    rows = [f"2024-05-10 00:{m:02d}:00,0,0,{600 + 60 * m}" for m in range(0, 30, 6)]
    path.write_text("t,env_low,env_high,mid\n" + "\n".join(rows) + "\n")
    s = load_file(path, "azure2024")
    assert s.unit == "requests/s" and "no token columns" in s.note
    assert s.bucket_s == 360
    np.testing.assert_allclose(s.values, [10, 16, 22, 28, 34])
