"""A synthetic trace with a daily cycle and bursts: for tests and the demo, no files needed."""

from __future__ import annotations

import math

import numpy as np

from simulations.traces.rate_series import RateSeries, synthesise_arrivals
from simulations.traces.request_trace import RequestTrace

STEP_S = 60.0  # one-minute rows: bursts of a few minutes stay visible
NOON_PHASE_S = 21600.0  # sin() crosses zero upwards at 06:00, so it peaks at 12:00

# The shape parameters and their defaults; the meta of a trace records those that differ,
# so a summary says what made this trace special without repeating the defaults.
DEFAULTS: dict[str, float] = {
    "duration_s": 2 * 86400.0,
    "mean_rps": 5.0,
    "daily_amplitude": 0.6,
    "burst_rate_per_day": 3.0,
    "burst_multiplier": 2.5,
    "burst_duration_s": 600.0,
}


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
    """Per-minute rates: mean_rps x (1 + amplitude x sin), peaking at noon and bottoming at
    midnight of each day, times `burst_multiplier` during bursts. Bursts start at a Poisson
    number (burst_rate_per_day per day on average) of uniform times and last
    burst_duration_s; overlapping bursts compound. Bursts add load, so the realised mean is
    a little above mean_rps (~+3 % at the defaults).
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if not (math.isfinite(mean_rps) and mean_rps >= 0):
        raise ValueError(f"mean_rps must be >= 0, got {mean_rps}")
    if not 0 <= daily_amplitude < 1:
        raise ValueError(f"daily_amplitude must be in [0, 1), got {daily_amplitude}")
    if burst_rate_per_day < 0 or burst_multiplier < 0 or burst_duration_s < 0:
        raise ValueError("burst_rate_per_day, burst_multiplier and burst_duration_s must be >= 0")
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, STEP_S)
    rate = mean_rps * (1 + daily_amplitude * np.sin(2 * np.pi * (t - NOON_PHASE_S) / 86400.0))
    n_bursts = rng.poisson(burst_rate_per_day * duration_s / 86400.0)
    for start in rng.uniform(0, duration_s, size=n_bursts):
        rate[(t >= start) & (t < start + burst_duration_s)] *= burst_multiplier
    return RateSeries(t_s=t, rate_rps=rate, name="synthetic-daily-bursts")


def synthetic_trace(
    *,
    duration_s: float = 2 * 86400.0,
    mean_rps: float = 5.0,
    daily_amplitude: float = 0.6,
    burst_rate_per_day: float = 3.0,
    burst_multiplier: float = 2.5,
    burst_duration_s: float = 600.0,
    seed: int = 0,
) -> RequestTrace:
    """Poisson requests following `synthetic_rate_series`; the same seed gives the same trace.

    The defaults make ~0.9 M requests over two days with Azure-code-like token lengths
    (mean 2,048 prompt / 28 output), small enough for the demo.
    """
    shape = {
        "duration_s": duration_s,
        "mean_rps": mean_rps,
        "daily_amplitude": daily_amplitude,
        "burst_rate_per_day": burst_rate_per_day,
        "burst_multiplier": burst_multiplier,
        "burst_duration_s": burst_duration_s,
    }
    series = synthetic_rate_series(seed=seed, **shape)
    # seed + 1: bursts and arrivals get separate generators, so how many burst draws were
    # made does not shift the arrival stream.
    trace = synthesise_arrivals(series, seed=seed + 1)
    changed = {name: value for name, value in shape.items() if value != DEFAULTS[name]}
    return RequestTrace(
        name=trace.name,
        arrival_s=trace.arrival_s,
        prompt_tokens=trace.prompt_tokens,
        output_tokens=trace.output_tokens,
        source="synthetic",
        # The caller's seed, not the arrivals' seed + 1: the one that reproduces this trace.
        meta={**trace.meta, **changed, "seed": seed},
    )
