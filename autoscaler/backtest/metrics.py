"""Forecast-quality metrics of a backtest. Pure functions of arrays; NaN actuals are skipped.

Point metrics (WAPE, MASE, pinball, coverage) score one forecast per origin: the one for the
bucket *at the horizon*, steps = ceil(horizon_s / bucket_s) buckets ahead (at least 1),
because that is the bucket a replica ordered now first serves. The provisioning metrics
(peak coverage, under-provisioned fraction, shortfall, excess) look at the whole horizon, as
the planner does: they compare the actual peak over the forecast's steps with the peak the
plan provisions for (`Forecast.horizon_peak`, calibrated on the forecaster's past peaks; see
rolling.py for which steps). The maximum of per-step uppers is not that number: each step
covers its own bucket at the quantile, and their maximum covers the peak at an unknown
level, short when a burst hits one step.

An undefined ratio (all-zero actuals, a constant series' MASE scale) is 0 when the forecast
is exact and NaN otherwise: NaN becomes `null` in backtest.json.
"""

from __future__ import annotations

import numpy as np


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return 0.0 if numerator == 0 else float("nan")


def _finite(actual: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    actual = np.asarray(actual, dtype=np.float64)
    keep = np.isfinite(actual)
    return [actual[keep], *(np.asarray(o, dtype=np.float64)[keep] for o in others)]


def wape(actual: np.ndarray, mean: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |y - f| / sum |y|.

    Worked number: actual [100, 200], forecast [110, 170] -> (10 + 30) / 300 = 0.133.
    Unlike MAPE it does not explode on quiet buckets (a 5 tok/s night minute counts by its
    size, not as a 100 % miss).
    """
    y, f = _finite(actual, mean)
    return _ratio(float(np.abs(y - f).sum()), float(np.abs(y).sum()))


def naive_scale(values: np.ndarray) -> float:
    """MASE's denominator: the mean absolute one-bucket change of the whole series, i.e. the
    in-sample error of the one-bucket naive forecast (pairs with a gap are skipped).

    One bucket rather than one season: it exists for any series of two buckets and does not
    favour the seasonal-naive kind being scored. Worked number: [100, 110, 90] -> (10 + 20)
    / 2 = 15.
    """
    values = np.asarray(values, dtype=np.float64)
    changes = np.abs(np.diff(values))
    changes = changes[np.isfinite(changes)]
    return float(changes.mean()) if changes.size else float("nan")


def mase(actual: np.ndarray, mean: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: mean |y - f| / naive_scale.

    Worked number: errors 10 and 30 with scale 15 -> 20 / 15 = 1.33. Below 1 means better at
    the horizon than the naive forecast is one bucket ahead; last-value at a one-bucket
    horizon scores ~1 by construction, and > 1 at longer horizons.
    """
    y, f = _finite(actual, mean)
    mae = float(np.abs(y - f).mean()) if y.size else 0.0
    return _ratio(mae, scale) if np.isfinite(scale) else float("nan")


def pinball(actual: np.ndarray, upper: np.ndarray, quantile: float) -> float:
    """Mean pinball (quantile) loss of the upper forecast u at quantile q, in the series'
    units: q * (y - u) when y > u (under), (1 - q) * (u - y) when y <= u (over).

    Worked number: q 0.95, actual [100, 100], upper [90, 120] -> (0.95 * 10 + 0.05 * 20) / 2
    = 5.25. Minimised in expectation by the true q-quantile, so it rewards an upper bound
    that is both calibrated and tight.
    """
    y, u = _finite(actual, upper)
    if y.size == 0:
        return float("nan")
    diff = y - u
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


def coverage(actual: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals at or below the upper forecast; compare with the nominal quantile.

    Worked number: actual [100, 100, 100, 100], upper [90, 120, 130, 100] -> 3 / 4 = 0.75.
    """
    y, u = _finite(actual, upper)
    return float(np.mean(y <= u)) if y.size else float("nan")


def window_peaks(actual_windows: np.ndarray) -> np.ndarray:
    """Per row: the largest observed value over its steps, NaN where all are gaps.

    Worked number: rows [100, 130, 90] and [NaN, 80, NaN] -> [130, 80].
    """
    actual = np.asarray(actual_windows, dtype=np.float64)
    finite = np.isfinite(actual)
    peaks = np.where(finite, actual, -np.inf).max(axis=1)
    return np.where(finite.any(axis=1), peaks, np.nan)


def peak_coverage(needed: np.ndarray, provisioned: np.ndarray) -> float:
    """Share of origins whose actual peak over the horizon (`needed`) is at or below the
    peak the plan provisioned for; NaN peaks (all gaps) are skipped. Read it against the
    nominal quantile, as `coverage`: it is the coverage of the one number the plan uses.

    Worked number: (needed, provisioned) (100, 120), (130, 120), (90, 95), (101, 100)
    -> 2 / 4 = 0.5.
    """
    return coverage(needed, provisioned)


def under_provisioned_fraction(needed: np.ndarray, provisioned: np.ndarray) -> float:
    """1 - peak_coverage: share of origins whose actual peak over the horizon exceeded the
    plan's peak, so the plan made then would have been short. Same worked number: 0.5."""
    covered = peak_coverage(needed, provisioned)
    return 1.0 - covered if covered == covered else float("nan")


def provisioning_cost(
    needed: np.ndarray,
    provisioned: np.ndarray,
    under_weight: float,
    over_weight: float,
) -> tuple[float, float, float]:
    """(objective, shortfall share, excess share) of provisioning the plan's peak.

    Per origin, needed = the actual peak over the horizon, provisioned = the plan's peak;
    origins whose needed is NaN (all gaps) are skipped.
    shortfall = sum max(0, needed - provisioned) / sum needed (demand not served in time:
    SLO risk); excess = sum max(0, provisioned - needed) / sum needed (capacity paid for
    and idle: GPU cost); objective = under_weight * shortfall + over_weight * excess.
    Worked number: (needed, provisioned) (100, 120), (130, 120) -> shortfall 10 / 230 =
    0.0435, excess 20 / 230 = 0.087; weights 10 : 1 -> 0.435 + 0.087 = 0.522. A 10 : 1 ratio
    says one token/s short costs as much as ten idle: the best plan then sits near the
    10 / 11 = 91st percentile of the peak.
    """
    needed, provisioned = _finite(needed, provisioned)
    if needed.size == 0:
        return float("nan"), float("nan"), float("nan")
    total = float(needed.sum())
    shortfall = _ratio(float(np.maximum(needed - provisioned, 0).sum()), total)
    excess = _ratio(float(np.maximum(provisioned - needed, 0).sum()), total)
    return under_weight * shortfall + over_weight * excess, shortfall, excess
