"""Arrivals synthesised from rate series follow the rate, the CV and the token means asked."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.traces.rate_series import RateSeries, synthesise_arrivals
from simulations.traces.synthetic import synthetic_trace


def series(rates: list[float], step_s: float = 600.0, **tokens: np.ndarray) -> RateSeries:
    t = np.arange(len(rates)) * step_s
    return RateSeries(t_s=t, rate_rps=np.asarray(rates, dtype=float), **tokens)


@pytest.mark.parametrize("process", ["poisson", "gamma"])
def test_count_follows_the_integral_of_the_rate(process: str) -> None:
    s = series([2.0, 10.0, 0.0, 5.0])
    trace = synthesise_arrivals(s, seed=3, process=process, cv=2.0)
    expected = np.array([2.0, 10.0, 0.0, 5.0]) * 600
    counts = np.histogram(trace.arrival_s, bins=np.arange(5) * 600.0)[0]
    sigma = np.sqrt(np.maximum(expected, 1)) * (2.0 if process == "gamma" else 1.0)
    assert np.all(np.abs(counts - expected) < 5 * sigma)
    assert counts[2] == 0  # a zero-rate window gets no requests
    assert np.all(np.diff(trace.arrival_s) >= 0)


@pytest.mark.parametrize("cv", [0.5, 1.0, 3.0], ids=lambda cv: f"cv-{cv}")
def test_gamma_inter_arrival_cv(cv: float) -> None:
    trace = synthesise_arrivals(series([20.0] * 6), seed=1, process="gamma", cv=cv)
    gaps = np.diff(trace.arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.1)


def test_token_means_follow_token_rates() -> None:
    s = series(
        [4.0, 4.0],
        input_tokens_per_s=np.array([4000.0, 12000.0]),
        output_tokens_per_s=np.array([400.0, 400.0]),
    )
    trace = synthesise_arrivals(s, seed=5)
    first = trace.arrival_s < 600
    assert trace.prompt_tokens[first].mean() == pytest.approx(1000, rel=0.1)
    assert trace.prompt_tokens[~first].mean() == pytest.approx(3000, rel=0.1)
    assert trace.output_tokens.mean() == pytest.approx(100, rel=0.1)
    assert trace.prompt_tokens.min() >= 1 and trace.output_tokens.min() >= 1


def test_seeded_and_reproducible() -> None:
    s = series([3.0, 6.0])
    a, b = synthesise_arrivals(s, seed=9), synthesise_arrivals(s, seed=9)
    c = synthesise_arrivals(s, seed=10)
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert not np.array_equal(a.arrival_s[:100], c.arrival_s[:100])


def test_bad_process_and_cv_are_rejected() -> None:
    with pytest.raises(ValueError, match="process"):
        synthesise_arrivals(series([1.0]), seed=0, process="hawkes")
    with pytest.raises(ValueError, match="cv"):
        synthesise_arrivals(series([1.0]), seed=0, process="gamma", cv=0)


def test_synthetic_trace_has_a_daily_cycle_and_is_seeded() -> None:
    trace = synthetic_trace(duration_s=86400, mean_rps=4.0, burst_rate_per_day=0, seed=2)
    hours = np.histogram(trace.arrival_s, bins=24, range=(0, 86400))[0]
    assert hours[11:14].mean() > 3 * hours[[0, 1, 23]].mean()  # noon peak, midnight trough
    assert trace.n_requests == pytest.approx(4.0 * 86400, rel=0.02)
    again = synthetic_trace(duration_s=86400, mean_rps=4.0, burst_rate_per_day=0, seed=2)
    assert np.array_equal(trace.arrival_s, again.arrival_s)


def test_synthetic_bursts_raise_the_rate() -> None:
    calm = synthetic_trace(duration_s=86400, mean_rps=4.0, burst_rate_per_day=0, seed=4)
    bursty = synthetic_trace(
        duration_s=86400, mean_rps=4.0, burst_rate_per_day=6, burst_multiplier=3.0, seed=4
    )
    assert bursty.n_requests > calm.n_requests * 1.05
