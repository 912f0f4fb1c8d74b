"""A synthetic trace with a daily cycle and bursts: for tests and the demo, no files needed."""

from __future__ import annotations

import numpy as np

from simulations.traces.rate_series import RateSeries, synthesise_arrivals
from simulations.traces.request_trace import RequestTrace

STEP_S = 60.0


def synthetic_rate_series(
    *,
    duration_s: float = 2 * 86400.0,
    mean_rps: float = 5.0,
    daily_amplitude: float = 0.6,
    burst_rate_per_day: float = 3.0,
    burst_multiplier: float = 2.5,
    burst_duration_s: float = 600.0,
    seed: int = 0,
) -> RateSeries:
    """Rate peaks at noon and bottoms at midnight (mean x (1 +- amplitude)); bursts start at
    random minutes and multiply the rate for `burst_duration_s`."""
    if not 0 <= daily_amplitude < 1:
        raise ValueError(f"daily_amplitude must be in [0, 1), got {daily_amplitude}")
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, STEP_S)
    rate = mean_rps * (1 + daily_amplitude * np.sin(2 * np.pi * (t - 21600.0) / 86400.0))
    n_bursts = rng.poisson(burst_rate_per_day * duration_s / 86400.0)
    for start in rng.uniform(0, duration_s, size=n_bursts):
        rate[(t >= start) & (t < start + burst_duration_s)] *= burst_multiplier
    return RateSeries(t_s=t, rate_rps=rate, name="synthetic-daily-bursts")


def synthetic_trace(*, seed: int = 0, **shape: float) -> RequestTrace:
    """Requests from `synthetic_rate_series(**shape)`; the same seed gives the same trace."""
    series = synthetic_rate_series(seed=seed, **shape)
    trace = synthesise_arrivals(series, seed=seed + 1)
    return RequestTrace(
        name=trace.name,
        arrival_s=trace.arrival_s,
        prompt_tokens=trace.prompt_tokens,
        output_tokens=trace.output_tokens,
        source="synthetic",
        meta={**trace.meta, **{k: v for k, v in shape.items()}},
    )
