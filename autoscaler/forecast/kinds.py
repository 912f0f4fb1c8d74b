"""The forecaster kinds an ensemble can combine, declared once.

Everything that lists kinds is built from MEMBER_KINDS: the ensemble's `members` union
(ensemble.py), the registry with the ensemble added and the profile's `forecast` union
(registry.py), and from the registry the defaults of `backtest`/`tune`, the tuning grid
(simulations/tune/forecast_error.py) and the admin API's check. The order here is the order of
every list and error message ("expected tags: 'last-value', ...").

Adding a kind: write its module (settings model with a `kind` Literal + forecaster class)
and add one line here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import Field

from autoscaler.forecast.arima_interval import ArimaIntervalForecaster, ArimaIntervalSettings
from autoscaler.forecast.forecast import Forecaster
from autoscaler.forecast.holt_winters import HoltWintersForecaster, HoltWintersSettings
from autoscaler.forecast.kalman import KalmanForecaster, KalmanSettings
from autoscaler.forecast.last_value import LastValueForecaster, LastValueSettings
from autoscaler.forecast.mstl import MstlForecaster, MstlSettings
from autoscaler.forecast.sarimax import SarimaxForecaster, SarimaxSettings
from autoscaler.forecast.seasonal_naive import SeasonalNaiveForecaster, SeasonalNaiveSettings
from autoscaler.forecast.settings import ForecastSettingsBase

KindEntry: TypeAlias = tuple[type[ForecastSettingsBase], Callable[[Any], Forecaster]]

MEMBER_KINDS: dict[str, KindEntry] = {
    "last-value": (LastValueSettings, LastValueForecaster),
    "seasonal-naive": (SeasonalNaiveSettings, SeasonalNaiveForecaster),
    "holt-winters": (HoltWintersSettings, HoltWintersForecaster),
    "sarimax": (SarimaxSettings, SarimaxForecaster),
    "kalman": (KalmanSettings, KalmanForecaster),
    "mstl": (MstlSettings, MstlForecaster),
    "arima-per-interval": (ArimaIntervalSettings, ArimaIntervalForecaster),
}


def check_kinds(kinds: dict[str, KindEntry]) -> dict[str, KindEntry]:
    """`kinds` as given, after checking each name is its settings' `kind` default (the tag
    pydantic reads), so a name and a model cannot drift apart."""
    for name, (settings_cls, _) in kinds.items():
        tag = settings_cls.model_fields["kind"].default
        if tag != name:
            raise ValueError(f"forecaster kind {name!r} has settings of kind {tag!r}")
    return kinds


def settings_union(kinds: Iterable[KindEntry]) -> Any:
    """`Annotated[A | B | ..., Field(discriminator="kind")]` over these kinds' settings: one
    of them, chosen by its `kind`, validated by its model."""
    union = functools.reduce(operator.or_, (settings_cls for settings_cls, _ in kinds))
    return Annotated[union, Field(discriminator="kind")]


if TYPE_CHECKING:
    # Built at run time, so a type checker sees what every kind shares.
    MemberSettings: TypeAlias = ForecastSettingsBase
else:
    MemberSettings = settings_union(check_kinds(MEMBER_KINDS).values())
