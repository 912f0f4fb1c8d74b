"""Seasonal naive: the same time one season ago, scaled to today's level.

Demand for a code assistant at 14:05 on Tuesday looks like 14:05 on Monday, but a growing
or quieter day shifts the whole curve. The level ratio compares the last `level_window_s`
with the same window one season ago. Worked number: last hour averaged 120 tok/s, the same
hour yesterday 100 tok/s, yesterday at the target minute 150 tok/s -> forecast 180 tok/s.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from autoscaler.forecast.clean import mask_resets
from autoscaler.forecast.forecast import PointForecast, fill_gaps, last_finite
from autoscaler.forecast.settings import ForecastSettingsBase, whole_multiple

_RATIO_BOUNDS = (0.2, 5.0)  # a ratio outside this is a regime change, not a level drift


class SeasonalNaiveSettings(ForecastSettingsBase):
    kind: Literal["seasonal-naive"] = "seasonal-naive"
    season_s: float = Field(
        86400.0, gt=0, description="86400 for daily, 604800 for weekly (keep history_s >= 8 days)"
    )
    level_window_s: float = Field(3600.0, ge=0, description="0 turns level scaling off")

    @model_validator(mode="after")
    def _history_holds_a_season(self) -> SeasonalNaiveSettings:
        if not whole_multiple(self.bucket_s, self.season_s):
            # The season is counted in buckets: 86400 s of 700 s buckets would be 86100 s,
            # and "the same time yesterday" would slide 5 minutes a day.
            raise ValueError(
                f"season_s ({self.season_s:g}) must be a multiple of bucket_s ({self.bucket_s:g})"
            )
        # Otherwise the forecaster would answer the last value forever (a weekly season with
        # the default three days of history is the easy mistake).
        need_s = self.season_s + self.level_window_s
        if self.history_s < need_s:
            raise ValueError(
                f"history_s ({self.history_s:g}) must be at least season_s + level_window_s"
                f" ({need_s:g})"
            )
        return self


class SeasonalNaiveForecaster:
    def __init__(self, settings: SeasonalNaiveSettings) -> None:
        self.settings = settings

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        history = mask_resets(history)  # a counter reset reads ~0 for one bucket: not demand
        bucket_s = self.settings.bucket_s
        season = int(round(self.settings.season_s / bucket_s))
        level = int(round(self.settings.level_window_s / bucket_s))
        n = history.size
        if n < season + level or n + horizon_steps - season <= 0:
            need, have = _span((season + level) * bucket_s), _span(n * bucket_s)
            return PointForecast(
                np.full(horizon_steps, last_finite(history)),
                "last-value",
                f"seasonal-naive needs {need} of history, has {have}",
            )
        values = fill_gaps(history)
        targets = np.arange(n, n + horizon_steps) - season
        # Horizon longer than a season: wrap into the last season we have.
        targets = np.where(targets >= n, targets - season, targets)
        mean = values[targets]
        if level > 0:
            recent = values[n - level :].mean()
            before = values[n - level - season : n - season].mean()
            if before > 0:
                mean = mean * float(np.clip(recent / before, *_RATIO_BOUNDS))
            else:
                mean = np.full(horizon_steps, last_finite(history))
        return PointForecast(mean, "seasonal-naive")


def _span(seconds: float) -> str:
    """Readable at any season: 90 -> '90 s', 5400 -> '1.5 h'."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"
