"""Scores of one rolling run, and the backtest.json document for several forecasters.

Warm-up: origins in the first `warmup_s` of the series are fed to the forecaster (it fits,
fills its season and collects the errors that calibrate its quantile) but not scored, so the
figures describe a forecaster in steady state rather than its first day, when every kind is
a last-value in disguise. `default_warmup_s` picks one day, at most a quarter of the series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from autoscaler.backtest import metrics
from autoscaler.backtest.rolling import RollingRun, forecast_steps, origin_indices
from autoscaler.backtest.series import DemandSeries
from autoscaler.backtest.size import check_run_size

DAY_S = 86400.0


@dataclass(frozen=True)
class Score:
    """Everything backtest.json says about one forecaster (wape, mase, pinball, coverage,
    peak_coverage and under_provisioned_fraction are the contract).

    `coverage` is the per-step upper's at the bucket at the horizon; `peak_coverage` the
    plan's peak's over the horizon (`under_provisioned_fraction` = 1 - peak_coverage). Both
    read against `quantile`."""

    wape: float
    mase: float
    pinball: float
    coverage: float
    peak_coverage: float
    under_provisioned_fraction: float
    quantile: float
    origins_scored: int
    calibrated_fraction: float  # share of scored origins whose upper came from real errors
    peak_calibrated_fraction: float  # ... whose plan's peak came from past peaks
    shortfall: float  # sum of unmet peak demand / sum of peak demand (see metrics)
    excess: float  # sum of idle provisioned peak / sum of peak demand
    seconds: float = 0.0  # wall time of the rolling run, filled in by the caller


def default_warmup_s(series: DemandSeries) -> float:
    """One day, but at most a quarter of the series. Worked number: 7 days -> 86,400 s;
    a 2 h series -> 1,800 s."""
    return min(DAY_S, series.span_s / 4)


def scored_rows(run: RollingRun, series: DemandSeries, warmup_s: float) -> np.ndarray:
    """Indices of the run's origins at or after the warm-up."""
    origin_s = run.origins * series.bucket_s
    return np.flatnonzero(origin_s >= warmup_s - 1e-9 * series.bucket_s)


def _no_origin_to_score(series: DemandSeries, warmup_s: float) -> ValueError:
    return ValueError(
        f"warm-up of {warmup_s:g} s leaves no origin to score in {series.span_s:g} s of"
        f" series; shorten --warmup-s or the horizon"
    )


def check_scorable(series: DemandSeries, steps: int, stride: int, warmup_s: float) -> None:
    """Raises the ValueError `rolling_origin` or `score` would, before any forecaster runs:
    a warm-up that leaves nothing to score was found only after every kind (or every tune
    candidate) had been replayed through the whole series. Also refuses a run whose
    forecasts would not fit in memory (`size.check_run_size`)."""
    origins = origin_indices(series, steps, stride)  # raises when there is none at all
    check_run_size(series, steps, stride)
    origin_s = origins * series.bucket_s
    if not np.any(origin_s >= warmup_s - 1e-9 * series.bucket_s):
        raise _no_origin_to_score(series, warmup_s)


def score(run: RollingRun, series: DemandSeries, warmup_s: float, seconds: float = 0.0) -> Score:
    """The metrics of `metrics` over the scored origins. Raises ValueError when the warm-up
    leaves none."""
    rows = scored_rows(run, series, warmup_s)
    if rows.size == 0:
        raise _no_origin_to_score(series, warmup_s)
    step = run.horizon_steps - 1  # the bucket at the horizon
    at_horizon = run.actual_windows(series)[rows, step]
    mean, upper = run.mean[rows, step], run.upper[rows, step]
    needed, provisioned = run.actual_peaks(series)[rows], run.peak[rows]
    quantile = float(run.settings.quantile)
    _, shortfall, excess = metrics.provisioning_cost(needed, provisioned, 1.0, 1.0)
    return Score(
        wape=metrics.wape(at_horizon, mean),
        mase=metrics.mase(at_horizon, mean, metrics.naive_scale(series.values)),
        pinball=metrics.pinball(at_horizon, upper, quantile),
        coverage=metrics.coverage(at_horizon, upper),
        peak_coverage=metrics.peak_coverage(needed, provisioned),
        under_provisioned_fraction=metrics.under_provisioned_fraction(needed, provisioned),
        quantile=quantile,
        origins_scored=int(rows.size),
        calibrated_fraction=float(run.calibrated[rows].mean()),
        peak_calibrated_fraction=float(run.peak_calibrated[rows].mean()),
        shortfall=shortfall,
        excess=excess,
        seconds=seconds,
    )


def json_number(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report(
    series: DemandSeries,
    horizon_s: float,
    horizon_steps: int,
    stride: int,
    warmup_s: float,
    scores: Mapping[str, Score],
    runs: Mapping[str, RollingRun],
) -> dict[str, Any]:
    """The backtest.json document: `{"horizon_s", "forecasters": {kind: {wape, mase, pinball,
    coverage, peak_coverage, under_provisioned_fraction, ...}}}` plus the series and run
    parameters."""
    forecasters: dict[str, Any] = {}
    for kind, result in scores.items():
        entry = {key: json_number(value) for key, value in asdict(result).items()}
        run = runs.get(kind)
        if run is not None:
            entry["settings"] = run.settings.model_dump(mode="json")
            entry["notes"] = run.notes
        forecasters[kind] = entry
    return {
        "horizon_s": horizon_s,
        "horizon_steps": horizon_steps,
        "bucket_s": series.bucket_s,
        "stride_buckets": stride,
        "warmup_s": warmup_s,
        "scored_bucket": "the bucket at the horizon (steps ahead = horizon_steps)",
        "peak_buckets": forecast_steps(horizon_steps),
        "scored_peak": (
            "the plan's peak (Forecast.horizon_peak at the horizon) against the actual peak"
            " over the peak_buckets buckets the engine forecasts"
        ),
        "series": {k: json_number(v) for k, v in series.describe().items()},
        "forecasters": forecasters,
    }
