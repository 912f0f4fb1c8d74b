"""Forecasters by `kind`: the profile names one and its settings are validated by its model.

The kinds are declared once, in kinds.MEMBER_KINDS; this adds the ensemble, which combines
them. Adding a kind: see kinds.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from autoscaler.forecast.conformal import ConformalUpper
from autoscaler.forecast.ensemble import EnsembleForecaster, EnsembleSettings
from autoscaler.forecast.forecast import Forecaster
from autoscaler.forecast.kinds import MEMBER_KINDS, KindEntry, check_kinds, settings_union
from autoscaler.forecast.settings import ForecastSettingsBase

FORECASTERS: dict[str, KindEntry] = check_kinds(
    {**MEMBER_KINDS, "ensemble": (EnsembleSettings, EnsembleForecaster)}
)

if TYPE_CHECKING:
    # Built at run time (kinds.settings_union), so a type checker sees what kinds share.
    ForecastSettings: TypeAlias = ForecastSettingsBase
else:
    ForecastSettings = settings_union(FORECASTERS.values())


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
