"""The built-in synthetic trace: a daily cycle, bursts, seeded, and small by default."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.traces.synthetic import synthetic_rate_series, synthetic_trace


def test_defaults_make_a_small_two_day_trace() -> None:
    trace = synthetic_trace()
    assert 0.8e6 < trace.n_requests < 1.0e6  # ~5 rps x 2 days, plus bursts; well under 2 M
    assert trace.duration_s == pytest.approx(2 * 86400, abs=60)
    assert trace.source == "synthetic" and trace.name == "synthetic-daily-bursts"
    assert trace.meta == {"arrivals": "poisson", "cv": 1.0, "seed": 0}  # only non-defaults
    assert np.all(np.diff(trace.arrival_s) >= 0)


def test_rate_series_is_per_minute_with_a_noon_peak() -> None:
    series = synthetic_rate_series(duration_s=86400, mean_rps=4.0, burst_rate_per_day=0)
    assert series.t_s.size == 1440 and series.step_s[0] == 60.0 and series.end_s == 86400.0
    noon, midnight = int(np.argmax(series.rate_rps)), int(np.argmin(series.rate_rps))
    assert noon == 720 and midnight == 0
    assert series.rate_rps.max() == pytest.approx(4.0 * 1.6)
    assert series.rate_rps.min() == pytest.approx(4.0 * 0.4)
    assert series.expected_requests == pytest.approx(4.0 * 86400, rel=1e-6)


def test_trace_has_a_daily_cycle_and_the_asked_mean() -> None:
    trace = synthetic_trace(duration_s=86400, mean_rps=4.0, burst_rate_per_day=0, seed=2)
    hours = np.histogram(trace.arrival_s, bins=24, range=(0, 86400))[0]
    assert hours[11:13].mean() > 3 * hours[[0, 23]].mean()  # noon peak, midnight trough
    expected = 4.0 * 86400
    assert abs(trace.n_requests - expected) < 5 * np.sqrt(expected)


def test_flat_when_amplitude_is_zero() -> None:
    series = synthetic_rate_series(duration_s=3600, daily_amplitude=0.0, burst_rate_per_day=0)
    assert np.all(series.rate_rps == 5.0)


def test_bursts_multiply_the_rate_for_their_duration() -> None:
    calm = synthetic_rate_series(duration_s=86400, burst_rate_per_day=0, seed=4)
    bursty = synthetic_rate_series(
        duration_s=86400,
        burst_rate_per_day=6,
        burst_multiplier=3.0,
        burst_duration_s=600,
        seed=4,
    )
    ratio = bursty.rate_rps / calm.rate_rps
    assert set(np.round(np.unique(ratio), 6)) <= {1.0, 3.0, 9.0, 27.0}  # overlaps compound
    burst_minutes = int(np.sum(ratio > 1))
    assert 0 < burst_minutes <= 20 * 10  # Poisson(6) bursts of 10 minutes each, generous
    trace_calm = synthetic_trace(duration_s=86400, burst_rate_per_day=0, seed=4)
    trace_bursty = synthetic_trace(
        duration_s=86400, burst_rate_per_day=6, burst_multiplier=3.0, seed=4
    )
    assert trace_bursty.n_requests > trace_calm.n_requests * 1.03


def test_seeded_and_reproducible() -> None:
    a = synthetic_trace(duration_s=7200, seed=7)
    b = synthetic_trace(duration_s=7200, seed=7)
    c = synthetic_trace(duration_s=7200, seed=8)
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert np.array_equal(a.output_tokens, b.output_tokens)
    assert not np.array_equal(a.arrival_s[:50], c.arrival_s[:50])


def test_meta_records_only_what_differs_from_the_defaults() -> None:
    trace = synthetic_trace(duration_s=3600, mean_rps=2.0, burst_multiplier=2.5, seed=3)
    assert trace.meta == {
        "arrivals": "poisson",
        "cv": 1.0,
        "seed": 3,  # the seed that reproduces it (arrivals draw from seed + 1)
        "duration_s": 3600,
        "mean_rps": 2.0,
    }


BAD = {
    "duration": ({"duration_s": 0}, "duration_s"),
    "mean": ({"mean_rps": -1}, "mean_rps"),
    "amplitude-high": ({"daily_amplitude": 1.0}, "daily_amplitude"),
    "amplitude-negative": ({"daily_amplitude": -0.1}, "daily_amplitude"),
    "burst": ({"burst_multiplier": -2}, "burst"),
}


@pytest.mark.parametrize(("kwargs", "words"), list(BAD.values()), ids=list(BAD))
def test_bad_shapes_are_rejected(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        synthetic_trace(**kwargs)
