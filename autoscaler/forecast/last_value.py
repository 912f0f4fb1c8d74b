"""Last value held flat: the baseline every other forecaster must beat."""

from __future__ import annotations

from typing import Literal

import numpy as np

from autoscaler.forecast.clean import mask_resets
from autoscaler.forecast.forecast import PointForecast, last_finite
from autoscaler.forecast.settings import ForecastSettingsBase


class LastValueSettings(ForecastSettingsBase):
    kind: Literal["last-value"] = "last-value"


class LastValueForecaster:
    def __init__(self, settings: LastValueSettings) -> None:
        self.settings = settings

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        # A counter reset reads ~0 for one bucket: holding it would shrink the fleet.
        held = last_finite(mask_resets(history))
        return PointForecast(np.full(horizon_steps, held), "last-value")
