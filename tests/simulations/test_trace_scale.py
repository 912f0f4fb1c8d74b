"""--rate-scale and --length-scale as traces are loaded: worked numbers for rate series and
request lists, token demand x rate x length, the refusals, and ServeGen scaled on load equal
to the hand-made `rate` CSV it replaces."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulations.backtest.loaders import load_file
from simulations.traces.loader import load_trace
from simulations.traces.rate_series import RateSeries, load_rate_series
from simulations.traces.scale import (
    UNSCALED,
    TraceScale,
    check_scale,
    scaled_requests,
    scaled_series,
)
from simulations.traces.servegen import servegen_rate_series
from tests.simulations.format_samples import SERVEGEN_HEADER, write_sample

AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:05.5000000,100,0
"""


def test_a_rate_series_scales_its_rate_by_x_and_its_lengths_by_y() -> None:
    # 2 req/s of 2,000-token prompts and 30-token outputs; at x0.5 rate, x3 length: 1 req/s
    # of 6,000-token prompts and 90-token outputs.
    series = RateSeries(
        t_s=np.array([0.0, 600.0]),
        rate_rps=np.array([2.0, 4.0]),
        input_tokens_per_s=np.array([4000.0, 8000.0]),
        output_tokens_per_s=np.array([60.0, 120.0]),
    )
    scaled = scaled_series(series, TraceScale(rate=0.5, length=3.0))
    assert scaled.rate_rps.tolist() == [1.0, 2.0]
    assert scaled.input_tokens_per_s is not None and scaled.output_tokens_per_s is not None
    assert scaled.input_tokens_per_s.tolist() == [6000.0, 12000.0]
    assert scaled.output_tokens_per_s.tolist() == [90.0, 180.0]
    assert (scaled.input_tokens_per_s / scaled.rate_rps).tolist() == [6000.0, 6000.0]
    assert scaled.t_s.tolist() == [0.0, 600.0]
    assert scaled.meta == {"rate_scale": 0.5, "length_scale": 3.0}


def test_a_synthesised_replay_has_x_the_requests_and_y_the_lengths(tmp_path: Path) -> None:
    # Two hours at 20 req/s of 2,000 + 30 tokens: ~144,000 requests, so the means are
    # within a percent of their expectation.
    path = tmp_path / "rate.csv"
    rows = [f"{t},20,40000,600" for t in range(0, 7200, 600)]
    path.write_text("\n".join(["t_s,rate_rps,input_tokens_per_s,output_tokens_per_s", *rows]))
    plain = load_trace(path, "rate", seed=1)
    scaled = load_trace(path, "rate", seed=1, scale=TraceScale(rate=0.25, length=4.0))
    assert scaled.n_requests / plain.n_requests == pytest.approx(0.25, rel=0.02)
    assert scaled.prompt_tokens.mean() == pytest.approx(8000, rel=0.02)
    assert scaled.output_tokens.mean() == pytest.approx(120, rel=0.02)
    assert scaled.describe()["rate_scale"] == 0.25 and scaled.describe()["length_scale"] == 4.0


def test_without_token_columns_the_default_lengths_are_scaled(tmp_path: Path) -> None:
    path = tmp_path / "rate.csv"
    path.write_text("t_s,rate_rps\n" + "\n".join(f"{t},20" for t in range(0, 7200, 600)))
    plain = load_trace(path, "rate", seed=2)
    longer = load_trace(path, "rate", seed=2, scale=TraceScale(length=2.0))
    assert longer.n_requests == plain.n_requests  # the same arrivals: only lengths change
    assert np.array_equal(longer.arrival_s, plain.arrival_s)
    assert longer.prompt_tokens.mean() == pytest.approx(2 * plain.prompt_tokens.mean(), rel=0.02)


def test_a_request_list_has_each_length_multiplied_and_rounded(tmp_path: Path) -> None:
    path = tmp_path / "azure.csv"
    path.write_text(AZURE)
    plain = load_trace(path, "azure")
    tripled = load_trace(path, "azure", scale=TraceScale(length=3.0))
    assert tripled.prompt_tokens.tolist() == [14424, 9540, 300]
    assert tripled.output_tokens.tolist() == [30, 24, 3]  # the 0 was read as 1 token
    assert np.array_equal(tripled.arrival_s, plain.arrival_s)
    # Shortened to nothing, a prompt may be empty; an output is still a decode step.
    tiny = scaled_requests(plain, TraceScale(length=0.01))
    assert tiny.prompt_tokens.tolist() == [48, 32, 1]
    assert tiny.output_tokens.tolist() == [1, 1, 1]


@pytest.mark.parametrize("fmt", ["rate", "servegen", "azure2024"])
def test_rate_series_token_demand_scales_by_x_times_y(tmp_path: Path, fmt: str) -> None:
    path = write_sample(tmp_path, fmt)
    scale = TraceScale(rate=0.5, length=6.0)
    for quantity, factor in (("tokens", 3.0), ("requests", 0.5)):
        plain = load_file(path, fmt, quantity)
        scaled = load_file(path, fmt, quantity, scale=scale)
        # azure2024's requests file has no tokens: its "tokens" demand is requests/s.
        expected = factor if plain.unit == "tokens/s" else 0.5
        assert np.array_equal(np.isnan(scaled.values), np.isnan(plain.values))
        np.testing.assert_allclose(scaled.values, plain.values * expected, rtol=1e-12)
        assert scaled.unit == plain.unit
        assert "--rate-scale 0.5 --length-scale 6" in scaled.note


def test_request_list_token_demand_scales_by_y(tmp_path: Path) -> None:
    path = write_sample(tmp_path, "azure")
    plain = load_file(path, "azure", "tokens")
    scaled = load_file(path, "azure", "tokens", scale=TraceScale(length=2.0))
    np.testing.assert_array_equal(scaled.values, plain.values * 2)


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        (TraceScale(rate=0.0), "--rate-scale must be a finite number > 0, got 0"),
        (TraceScale(rate=-2.0), "--rate-scale must be a finite number > 0, got -2"),
        (TraceScale(length=math.inf), "--length-scale must be a finite number > 0, got inf"),
        (TraceScale(length=math.nan), "--length-scale must be a finite number > 0, got nan"),
    ],
)
def test_a_scale_that_is_not_a_positive_number_is_refused(scale: TraceScale, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_scale(scale, "rate")


@pytest.mark.parametrize("fmt", ["azure", "mooncake", "burstgpt"])
def test_a_request_list_refuses_a_rate_scale_and_takes_a_length_scale(
    tmp_path: Path, fmt: str
) -> None:
    path = write_sample(tmp_path, fmt)
    expected = (
        rf"--rate-scale applies to rate series \(rate, servegen, azure2024\); '{fmt}' lists "
        "its requests"
    )
    with pytest.raises(ValueError, match=expected):
        load_trace(path, fmt, scale=TraceScale(rate=2.0))
    assert load_trace(path, fmt, scale=TraceScale(length=2.0)).prompt_tokens[0] == 4000


def test_a_scale_without_a_trace_file_is_refused() -> None:
    check_scale(UNSCALED, "azure", has_trace=False)  # the defaults are not "given"
    with pytest.raises(ValueError, match="--length-scale 2: scales apply to a --trace file"):
        check_scale(TraceScale(length=2.0), "azure", has_trace=False)


def _servegen_and_hand_scaled(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny ServeGen file, and the `rate` CSV the hand recipe made of it: rate_rps x 0.025;
    tokens = est_*_covered / covered_rate_rps x the unscaled rate_rps x 0.5."""
    rng = np.random.default_rng(5)
    servegen = [SERVEGEN_HEADER]
    hand = ["t_s,rate_rps,input_tokens_per_s,output_tokens_per_s"]
    for i in range(24):  # 4 hours of 600 s rows, no collection gap
        t = 1_000_000 + 600 * i  # files start anywhere: both readers shift to 0
        rate = float(rng.uniform(600, 1000))
        covered = rate * float(rng.uniform(0.3, 0.5))
        est_in = covered * float(rng.uniform(100, 200))  # tokens/s of ~150-token prompts
        est_out = covered * float(rng.uniform(20, 40))
        servegen.append(f"{t},{rate!r},20,{covered!r},{est_in!r},{est_out!r},1.5")
        scaled_in = est_in / covered * rate * 0.5
        scaled_out = est_out / covered * rate * 0.5
        hand.append(f"{t - 1_000_000},{rate * 0.025!r},{scaled_in!r},{scaled_out!r}")
    servegen_path, hand_path = tmp_path / "aggregate_tiny.csv", tmp_path / "hand.csv"
    servegen_path.write_text("\n".join(servegen) + "\n")
    hand_path.write_text("\n".join(hand) + "\n")
    return servegen_path, hand_path


def test_servegen_scaled_on_load_is_the_hand_made_rate_csv(tmp_path: Path) -> None:
    servegen_path, hand_path = _servegen_and_hand_scaled(tmp_path)
    scale = TraceScale(rate=0.025, length=20.0)
    series = scaled_series(servegen_rate_series(servegen_path), scale)
    hand = load_rate_series(hand_path)
    for name in ("t_s", "rate_rps", "input_tokens_per_s", "output_tokens_per_s"):
        np.testing.assert_array_equal(getattr(series, name), getattr(hand, name), err_msg=name)
    replayed = load_trace(servegen_path, "servegen", seed=3, scale=scale)
    by_hand = load_trace(hand_path, "rate", seed=3)
    assert replayed.n_requests > 1000  # 4 h at ~20 req/s
    for name in ("arrival_s", "prompt_tokens", "output_tokens"):
        np.testing.assert_array_equal(getattr(replayed, name), getattr(by_hand, name), name)
    unscaled = load_trace(servegen_path, "servegen", seed=3)
    assert unscaled.n_requests > 30 * replayed.n_requests  # the scale did take effect
