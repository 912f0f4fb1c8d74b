"""What one model's forecast may hold in memory, bounded where a profile is loaded.

Three products of profile fields size the arrays of a ModelEngine, per model:
- history buckets = ceil(history_s / bucket_s): the Window's ring (12 bytes a bucket) and the
  copy every forecast reads (~60 bytes a bucket).
- horizon steps = ceil((cold_start_s + decision_interval_s) / bucket_s) + 1: every forecast's
  length; ConformalUpper keeps a horizon's worth of pending forecasts, 24 bytes x steps^2
  per series.
- error cells = max(30, error_window_s / bucket_s) x (horizon steps + 1: one column a step
  and one for the horizon's peak) (x members for an ensemble, whose member errors are
  float64): the calibration rings, two bytes a cell per series (and two a row for the
  volatility ring), and ~30 bytes a cell while a quantile is sorted.

Worked number: the bundled profile (60 s buckets, 3 days, 315 s horizon, 1 day of errors) is
4,320 buckets, 7 steps and 1,440 x 8 = 11,520 cells, ~1 MB a model. `bucket_s: 1` with
`cold_start_s: 7200` was 7,202 steps x 86,400 rows = 622 M cells: 2.5 GB for one ScaledObject.

The limits are the bundled and deploy/config profiles' sizes times a wide margin, so that a
model at every limit at once stays near 100 MB (2.5 GB before).
"""

from __future__ import annotations

import math
from typing import Any

from autoscaler.forecast.conformal import MIN_ERRORS

# 69x the bundled 4,320; two weeks and a day (what `tune` keeps for a weekly season) at 5 s
# buckets is 259,200. ~4 MB of ring, ~18 MB per forecast's copy.
MAX_HISTORY_BUCKETS = 300_000
# 29x the 405B example's 17; the longest cold start a profile allows (7,200 s) fits at 15 s
# buckets (482 steps). Pending forecasts: 6 MB a series.
MAX_HORIZON_STEPS = 500
# 100x the 405B example's 1,440 x 17 = 24,480: a day of errors fits any horizon at 60 s
# buckets, 433 steps at 15 s, 28 at 1 s (the KEDA end-to-end test's 22). 5 MB a series,
# ~75 MB while a full day's quantile is sorted.
MAX_ERROR_CELLS = 2_500_000


def horizon_steps(horizon_s: float, bucket_s: float) -> int:
    """Steps each forecast covers, as `ModelEngine.forecasts` asks for them."""
    return math.ceil(horizon_s / bucket_s) + 1


def memory_problems(forecast: Any, horizon_s: float, where: str = "forecast") -> list[str]:
    """Each limit the settings exceed, naming the fields, the computed size and the limit;
    [] when all hold. Sizes are compared as floats first: 1e13 / 0.001 has no int worth
    building."""
    bucket_s = float(forecast.bucket_s)
    problems = []
    buckets = forecast.history_s / bucket_s
    if buckets > MAX_HISTORY_BUCKETS:
        problems.append(
            f"{where}.history_s / {where}.bucket_s = {buckets:,.0f} buckets of history, over "
            f"the limit of {MAX_HISTORY_BUCKETS:,} (MAX_HISTORY_BUCKETS): lengthen bucket_s or "
            "shorten history_s"
        )
    steps_f = horizon_s / bucket_s + 1
    if steps_f > MAX_HORIZON_STEPS:
        problems.append(
            f"(cold_start_s + decision_interval_s) / {where}.bucket_s + 1 = {steps_f:,.0f} "
            f"forecast steps, over the limit of {MAX_HORIZON_STEPS:,} (MAX_HORIZON_STEPS): "
            "lengthen bucket_s"
        )
        return problems  # the error cells grow with the steps: one cause, one message
    rows = max(MIN_ERRORS, forecast.error_window_s / bucket_s)
    members = len(getattr(forecast, "members", ())) or 1
    cells = rows * (horizon_steps(horizon_s, bucket_s) + 1) * members
    if cells > MAX_ERROR_CELLS:
        per = f" x {members} members" if members > 1 else ""
        problems.append(
            f"{where}.error_window_s / {where}.bucket_s x forecast steps{per} = {cells:,.0f} "
            f"calibration error cells, over the limit of {MAX_ERROR_CELLS:,} (MAX_ERROR_CELLS): "
            "shorten error_window_s or lengthen bucket_s"
        )
    return problems
