"""Forecasters by `kind`: the profile names one and its settings are validated by its model.

Adding a kind: write its module (settings model with a `kind` Literal + forecaster class)
and add one line to FORECASTERS.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from autoscaler.forecast.arima_interval import ArimaIntervalForecaster, ArimaIntervalSettings
from autoscaler.forecast.conformal import ConformalUpper
from autoscaler.forecast.ensemble import EnsembleForecaster, EnsembleSettings
from autoscaler.forecast.forecast import Forecaster
from autoscaler.forecast.holt_winters import HoltWintersForecaster, HoltWintersSettings
from autoscaler.forecast.kalman import KalmanForecaster, KalmanSettings
from autoscaler.forecast.last_value import LastValueForecaster, LastValueSettings
from autoscaler.forecast.mstl import MstlForecaster, MstlSettings
from autoscaler.forecast.sarimax import SarimaxForecaster, SarimaxSettings
from autoscaler.forecast.seasonal_naive import SeasonalNaiveForecaster, SeasonalNaiveSettings

FORECASTERS: dict[str, tuple[type, Any]] = {
    "last-value": (LastValueSettings, LastValueForecaster),
    "seasonal-naive": (SeasonalNaiveSettings, SeasonalNaiveForecaster),
    "holt-winters": (HoltWintersSettings, HoltWintersForecaster),
    "sarimax": (SarimaxSettings, SarimaxForecaster),
    "kalman": (KalmanSettings, KalmanForecaster),
    "mstl": (MstlSettings, MstlForecaster),
    "arima-per-interval": (ArimaIntervalSettings, ArimaIntervalForecaster),
    "ensemble": (EnsembleSettings, EnsembleForecaster),
}

ForecastSettings = Annotated[
    LastValueSettings
    | SeasonalNaiveSettings
    | HoltWintersSettings
    | SarimaxSettings
    | KalmanSettings
    | MstlSettings
    | ArimaIntervalSettings
    | EnsembleSettings,
    Field(discriminator="kind"),
]


def build_forecaster(settings: Any) -> Forecaster:
    """A fresh forecaster (own fitted state) for one series."""
    try:
        _, factory = FORECASTERS[settings.kind]
    except KeyError:
        raise ValueError(
            f"unknown forecaster kind {settings.kind!r}; known: {', '.join(FORECASTERS)}"
        ) from None
    return factory(settings)


def build_with_upper(settings: Any) -> ConformalUpper:
    """A forecaster wrapped so it also yields its calibrated upper quantile."""
    return ConformalUpper(
        build_forecaster(settings),
        quantile=settings.quantile,
        bucket_s=settings.bucket_s,
        error_window_s=settings.error_window_s,
    )
