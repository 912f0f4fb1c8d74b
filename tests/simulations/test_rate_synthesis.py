"""Arrivals synthesised from rate series follow the rate, the CV and the token means asked."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from simulations.traces.azure2024 import load_azure2024_digitized
from simulations.traces.rate_series import (
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_PROMPT_TOKENS,
    MAX_TOKENS,
    RateSeries,
    synthesise_arrivals,
)


def series(rates: list[float], step_s: float = 600.0, **tokens: np.ndarray) -> RateSeries:
    t = np.arange(len(rates)) * step_s
    return RateSeries(t_s=t, rate_rps=np.asarray(rates, dtype=float), **tokens)


@pytest.mark.parametrize(("process", "cv"), [("poisson", 1.0), ("gamma", 0.5), ("gamma", 2.0)])
def test_count_per_row_follows_the_integral_of_the_rate(process: str, cv: float) -> None:
    rates = [2.0, 10.0, 0.0, 5.0, 0.5]
    trace = synthesise_arrivals(series(rates), seed=3, process=process, cv=cv)
    expected = np.array(rates) * 600
    counts = np.histogram(trace.arrival_s, bins=np.arange(len(rates) + 1) * 600.0)[0]
    # A renewal process's count has variance ~ cv^2 x mean; allow 5 sigma.
    sigma = np.sqrt(np.maximum(expected, 1)) * max(cv, 1.0)
    assert np.all(np.abs(counts - expected) < 5 * sigma), (counts, expected)
    assert counts[2] == 0  # a zero-rate window gets no requests
    assert counts.sum() == trace.n_requests  # nothing before 0 or after the end
    assert np.all(np.diff(trace.arrival_s) >= 0)


def test_total_count_across_seeds_is_poisson() -> None:
    s = series([3.0, 1.0, 6.0], step_s=100.0)  # integral 1,000
    counts = np.array([synthesise_arrivals(s, seed=k).n_requests for k in range(200)])
    assert counts.mean() == pytest.approx(1000, abs=5 * np.sqrt(1000 / 200))
    assert counts.var() == pytest.approx(1000, rel=0.3)  # Poisson: variance = mean


def test_poisson_arrivals_are_uniform_within_a_row() -> None:
    trace = synthesise_arrivals(series([50.0, 0.0], step_s=1000.0), seed=4)
    deciles = np.histogram(trace.arrival_s, bins=10, range=(0, 1000))[0]
    assert np.all(np.abs(deciles - 5000) < 5 * np.sqrt(5000))
    gaps = np.diff(trace.arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0, 4.0], ids=lambda cv: f"cv-{cv}")
def test_gamma_inter_arrival_cv(cv: float) -> None:
    trace = synthesise_arrivals(series([20.0] * 6), seed=1, process="gamma", cv=cv)
    gaps = np.diff(trace.arrival_s)
    assert gaps.mean() == pytest.approx(1 / 20.0, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.1)


def test_gamma_cv_holds_within_each_row_of_a_changing_rate() -> None:
    """Time-rescaling keeps the CV where the rate changes, not only at a flat rate."""
    s = series([5.0, 40.0], step_s=3600.0)
    trace = synthesise_arrivals(s, seed=2, process="gamma", cv=3.0)
    for lo, hi in ((0.0, 3600.0), (3600.0, 7200.0)):
        gaps = np.diff(trace.arrival_s[(trace.arrival_s >= lo) & (trace.arrival_s < hi)])
        assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.15)


def test_token_means_follow_token_rates_per_row() -> None:
    s = series(
        [4.0, 4.0, 4.0],
        input_tokens_per_s=np.array([4000.0, 12000.0, 0.0]),  # 0: fall back to the default
        output_tokens_per_s=np.array([400.0, 400.0, 400.0]),
    )
    trace = synthesise_arrivals(s, seed=5, mean_prompt_tokens=500.0)
    rows = np.minimum((trace.arrival_s // 600).astype(int), 2)
    assert trace.prompt_tokens[rows == 0].mean() == pytest.approx(1000, rel=0.1)
    assert trace.prompt_tokens[rows == 1].mean() == pytest.approx(3000, rel=0.1)
    assert trace.prompt_tokens[rows == 2].mean() == pytest.approx(500, rel=0.1)
    assert trace.output_tokens.mean() == pytest.approx(100, rel=0.1)
    # Lognormal with sigma 1: the median is mean / e^0.5.
    assert np.median(trace.prompt_tokens[rows == 0]) == pytest.approx(1000 / np.e**0.5, rel=0.1)


def test_token_defaults_dtypes_and_clipping() -> None:
    trace = synthesise_arrivals(series([10.0] * 3), seed=6)
    assert trace.arrival_s.dtype == np.float64
    assert trace.prompt_tokens.dtype == np.int32 and trace.output_tokens.dtype == np.int32
    assert trace.prompt_tokens.mean() == pytest.approx(DEFAULT_PROMPT_TOKENS, rel=0.1)
    assert trace.output_tokens.mean() == pytest.approx(DEFAULT_OUTPUT_TOKENS, rel=0.1)
    huge = synthesise_arrivals(series([10.0]), seed=6, mean_prompt_tokens=1e6)
    tiny = synthesise_arrivals(series([10.0]), seed=6, mean_output_tokens=0.01)
    assert huge.prompt_tokens.max() == MAX_TOKENS
    assert tiny.output_tokens.min() == 1 and tiny.output_tokens.max() <= 1


def test_seeded_and_reproducible() -> None:
    s = series([3.0, 6.0])
    a, b = synthesise_arrivals(s, seed=9), synthesise_arrivals(s, seed=9)
    c = synthesise_arrivals(s, seed=10)
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert np.array_equal(a.output_tokens, b.output_tokens)
    assert not np.array_equal(a.arrival_s[:100], c.arrival_s[:100])
    assert a.meta == {"arrivals": "poisson", "cv": 1.0, "seed": 9}
    # Poisson ignores cv entirely: same seed, same trace.
    d = synthesise_arrivals(s, seed=9, cv=3.0)
    assert np.array_equal(a.arrival_s, d.arrival_s) and d.meta["cv"] == 1.0


def test_global_numpy_random_state_is_untouched() -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    synthesise_arrivals(series([5.0]), seed=0, process="gamma", cv=2.0)
    assert np.random.random() == expected


def test_max_requests_keeps_the_earliest_arrivals() -> None:
    s = series([10.0, 10.0])
    full = synthesise_arrivals(s, seed=8)
    capped = synthesise_arrivals(s, seed=8, max_requests=1000)
    assert capped.n_requests == 1000
    assert capped.meta["truncated"] is True and capped.meta["max_requests"] == 1000
    # The same unit-rate draws, so the kept arrivals are the uncapped trace's first ones.
    assert np.array_equal(capped.arrival_s, full.arrival_s[:1000])
    roomy = synthesise_arrivals(s, seed=8, max_requests=10**6)
    assert roomy.meta["truncated"] is False
    assert np.array_equal(roomy.arrival_s, full.arrival_s)
    assert synthesise_arrivals(s, seed=8, max_requests=0).n_requests == 0


def test_all_zero_rates_give_an_empty_trace() -> None:
    trace = synthesise_arrivals(series([0.0, 0.0]), seed=0)
    assert trace.n_requests == 0 and trace.prompt_tokens.dtype == np.int32


def test_series_not_starting_at_zero_and_single_row() -> None:
    s = RateSeries(t_s=np.array([1000.0]), rate_rps=np.array([5.0]))
    assert s.end_s == 1060.0  # a lone row lasts DEFAULT_STEP_S
    trace = synthesise_arrivals(s, seed=1)
    assert trace.arrival_s.min() >= 1000.0 and trace.arrival_s.max() < 1060.0


BAD_ARGS = {
    "process": ({"process": "hawkes"}, "process"),
    "cv-zero": ({"process": "gamma", "cv": 0}, "cv"),
    "cv-nan": ({"process": "gamma", "cv": float("nan")}, "cv"),
    "prompt-mean": ({"mean_prompt_tokens": 0}, "mean_prompt_tokens"),
    "output-mean": ({"mean_output_tokens": -1}, "mean_output_tokens"),
    "max-requests": ({"max_requests": -1}, "max_requests"),
}


@pytest.mark.parametrize(("kwargs", "words"), list(BAD_ARGS.values()), ids=list(BAD_ARGS))
def test_bad_arguments_are_rejected(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        synthesise_arrivals(series([1.0]), seed=0, **kwargs)


def test_too_many_requests_need_max_requests() -> None:
    s = series([1e6] * 1000)  # 6e11 requests
    with pytest.raises(ValueError, match="max_requests"):
        synthesise_arrivals(s, seed=0)
    assert synthesise_arrivals(s, seed=0, max_requests=5).n_requests == 5


BAD_SERIES = {
    "empty": ({"t_s": [], "rate_rps": []}, "non-empty"),
    "not-increasing": ({"t_s": [0, 60, 60], "rate_rps": [1, 1, 1]}, "increasing"),
    "negative-rate": ({"t_s": [0, 60], "rate_rps": [1, -1]}, "rate_rps"),
    "nan-rate": ({"t_s": [0, 60], "rate_rps": [1, np.nan]}, "rate_rps"),
    "shape": ({"t_s": [0, 60], "rate_rps": [1, 2, 3]}, "shape"),
    "tokens-shape": (
        {"t_s": [0, 60], "rate_rps": [1, 2], "input_tokens_per_s": [1]},
        "input_tokens_per_s",
    ),
}


@pytest.mark.parametrize(("fields", "words"), list(BAD_SERIES.values()), ids=list(BAD_SERIES))
def test_rate_series_checks_itself(fields: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RateSeries(**fields)


def test_a_week_at_28_rps_is_fast_and_lean() -> None:
    """~17 M requests: the Azure 2024 scale. Vectorised, this takes ~2 s; the bound is loose
    so a slow CI box passes, while a per-request Python loop (minutes) would not."""
    hours = np.arange(7 * 24 * 6) * 600.0
    rate = 27.8 * (1 + 0.6 * np.sin(2 * np.pi * hours / 86400))
    s = RateSeries(t_s=hours, rate_rps=rate)
    start = time.perf_counter()
    trace = synthesise_arrivals(s, seed=0)
    elapsed = time.perf_counter() - start
    sigma = np.sqrt(s.expected_requests)
    assert trace.n_requests == pytest.approx(s.expected_requests, abs=5 * sigma)
    assert trace.n_requests > 16_000_000
    assert elapsed < 30.0, elapsed
    # 8 + 4 + 4 bytes per request: no int64/float64 token arrays sneaking in.
    nbytes = trace.arrival_s.nbytes + trace.prompt_tokens.nbytes + trace.output_tokens.nbytes
    assert nbytes <= 16 * trace.n_requests * 1.01


def test_real_azure_2024_week_synthesises(shared_dir: Path) -> None:
    folder = shared_dir / "traces/azure2024"
    s = load_azure2024_digitized(
        folder / "azure2024_code_requests_per_min_digitized.csv",
        folder / "azure2024_code_input_tokens_per_min_digitized.csv",
    )
    trace = synthesise_arrivals(s, seed=0)
    sigma = np.sqrt(s.expected_requests)
    assert trace.n_requests == pytest.approx(s.expected_requests, abs=5 * sigma)
    assert trace.duration_s / 86400 == pytest.approx(7.0, abs=0.1)
    assert trace.n_requests / trace.duration_s == pytest.approx(27.8, rel=0.05)
    assert s.input_tokens_per_s is not None
    expected_prompt = np.sum(s.input_tokens_per_s * s.step_s) / s.expected_requests
    assert trace.prompt_tokens.mean() == pytest.approx(expected_prompt, rel=0.02)
