"""What one backtest or tune run may cost, checked before any forecaster runs.

A run keeps, per forecaster, a mean and an upper for every origin and forecast step (16 bytes
each; a horizon of N buckets is forecast N + 1 steps ahead, as the engine does) until it is
scored, and each forecaster's ConformalUpper keeps its error ring (one day of errors, the
settings' default, x the steps). A series within MAX_SERIES_BUCKETS can still
multiply into gigabytes through the horizon: 1 s buckets and a 300 s horizon were 26 M error
cells, ~0.8 GB while a quantile was sorted.
"""

from __future__ import annotations

import math

from autoscaler.backtest.series import DemandSeries
from autoscaler.forecast.conformal import MIN_ERRORS
from autoscaler.forecast.memory_limits import MAX_ERROR_CELLS, MAX_HORIZON_STEPS
from autoscaler.forecast.settings import ForecastSettingsBase

# 50x two weeks of minute buckets at the default 300 s horizon (20,160 x 5); a year of them
# is 2.6 M. 80 MB per forecaster, ~640 MB for every default kind at once.
MAX_FORECAST_VALUES = 5_000_000
_ERROR_WINDOW_S = float(ForecastSettingsBase.model_fields["error_window_s"].default)


def check_run_size(series: DemandSeries, steps: int, stride: int) -> None:
    """ValueError naming the series' source, the sizes and the limit they pass. `steps`:
    the horizon's buckets; the checks count the forecast's, one more."""
    where = f"{series.source}: "
    horizon = steps
    steps += 1  # forecast steps, as rolling.forecast_steps
    if steps > MAX_HORIZON_STEPS:
        raise ValueError(
            f"{where}the horizon is {horizon:,} buckets of {series.bucket_s:g} s ({steps:,} "
            f"forecast steps), over the limit of {MAX_HORIZON_STEPS} (MAX_HORIZON_STEPS): a "
            "shorter --horizon-s or a longer --bucket-s"
        )
    rows = max(MIN_ERRORS, _ERROR_WINDOW_S / series.bucket_s)
    if rows * steps > MAX_ERROR_CELLS:
        raise ValueError(
            f"{where}a day of errors at {series.bucket_s:g} s buckets x {steps} steps is "
            f"{rows * steps:,.0f} calibration error cells, over the limit of "
            f"{MAX_ERROR_CELLS:,} (MAX_ERROR_CELLS): a longer --bucket-s"
        )
    origins = max(0, math.ceil((series.n_buckets - steps) / stride))
    if origins * steps > MAX_FORECAST_VALUES:
        raise ValueError(
            f"{where}{origins:,} origins x {steps} steps = {origins * steps:,} forecast values "
            f"per forecaster, over the limit of {MAX_FORECAST_VALUES:,} (MAX_FORECAST_VALUES): "
            "a --stride-s, a shorter --horizon-s or a longer --bucket-s"
        )
