"""MSTL: seasonal components by STL (daily, optionally weekly), the rest by damped Holt.

On refit, statsmodels MSTL splits the coarse history into seasonal components plus
trend + remainder. Each season's last full cycle becomes a profile indexed by absolute
phase (the projection "this time yesterday / last week looked like this"); the
deseasonalised series gets a damped-trend Holt model fitted by statsmodels. Between refits
each new bucket is deseasonalised with the profiles and fed to the Holt recursion: O(1).
STL runs with jumps (its smoothers evaluated every few points and interpolated): measured on
864 five-minute buckets 0.21 s without, 9 ms with, and the seasonal component the same within
0.1 tok/s.

A fitted smoothing level near 0 would follow a level shift at a crawl, so alpha is kept at
least `min_alpha`. Worked number: alpha 0.3 -> a shift is 1 - 0.7^3 = 66 % absorbed after
three buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from autoscaler.forecast.coarse import CoarseView
from autoscaler.forecast.coarse_model import CoarseModelForecaster, FittedState
from autoscaler.forecast.settings import CoarseFitSettings, require_history

WEEK_S = 7 * 86400.0
_STL_SPEED = {"seasonal_jump": 5, "trend_jump": 30, "low_pass_jump": 30}


class MstlSettings(CoarseFitSettings):
    kind: Literal["mstl"] = "mstl"
    weekly: bool = Field(False, description="add a weekly season once two weeks are kept")
    min_alpha: float = Field(
        0.3, ge=0, le=1, description="floor on the level smoothing of the deseasonalised series"
    )

    @model_validator(mode="after")
    def _keeps_two_weeks(self) -> MstlSettings:
        if self.weekly:
            require_history(self, 2 * WEEK_S, "for weekly: true (two weeks)")
        return self


@dataclass
class _State(FittedState):
    profiles: list[np.ndarray]  # one per season, indexed by absolute coarse index mod length
    alpha: float
    beta: float
    phi: float
    level: float
    trend: float


class MstlForecaster(CoarseModelForecaster[_State]):
    method = "mstl"

    def __init__(self, settings: MstlSettings) -> None:
        super().__init__(settings)
        self.settings: MstlSettings = settings

    def _width(self) -> float:
        return max(self.settings.fit_bucket_s, self.settings.bucket_s)

    def season_buckets(self) -> int:
        return int(round(self.settings.season_s / self._width()))

    def fit(self, view: CoarseView, end_s: float) -> _State:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
        from statsmodels.tsa.seasonal import MSTL

        n = view.values.size
        periods = [self.season_buckets()]
        if self.settings.weekly:
            periods.append(int(round(WEEK_S / view.width_s)))
        # statsmodels' MSTL drops a period that is not under half the series (and then fails).
        usable = [p for p in periods if p >= 2 and n > 2 * p]
        notes = []
        if periods[0] not in usable:
            notes.append("mstl without season: less than two seasons of history")
        if self.settings.weekly and len(usable) < len(periods) and periods[0] in usable:
            notes.append("mstl without weekly season: less than two weeks of history")
        indices = view.indices()
        profiles: list[np.ndarray] = []
        rest = view.values
        if usable:
            fit = MSTL(view.values, periods=usable, stl_kwargs=_STL_SPEED).fit()
            seasonal = np.asarray(fit.seasonal).reshape(n, -1)
            for column, period in enumerate(usable):
                profile = np.empty(period)
                profile[indices[-period:] % period] = seasonal[-period:, column]
                profiles.append(profile)
            rest = view.values - seasonal.sum(axis=1)
        holt = ExponentialSmoothing(
            rest, trend="add", damped_trend=True, initialization_method="estimated"
        ).fit(use_brute=False)  # the brute-force start grid was half the refit time
        params = holt.params
        state = _State(
            fitted_at_s=end_s,
            fitted_on=n,
            fitted_until_s=view.end_s,
            seasonal=bool(usable),
            note="; ".join(notes),
            profiles=profiles,
            alpha=float(params["smoothing_level"]),
            beta=float(params.get("smoothing_trend") or 0.0),
            phi=float(params.get("damping_trend") or 1.0),
            level=float(holt.level[-1]),
            trend=float(holt.trend[-1]),
        )
        if state.alpha < self.settings.min_alpha:
            # Replay the history with the floored alpha so level and trend agree with it.
            state.alpha = self.settings.min_alpha
            state.level, state.trend = float(rest[0]), 0.0
            _holt(state, rest[1:])
        return state

    def advance(self, state: _State, values: np.ndarray, indices: np.ndarray) -> None:
        _holt(state, values - _seasonal(state, indices))

    def project(self, state: _State, indices: np.ndarray) -> np.ndarray:
        h = np.arange(1, indices.size + 1)
        damp = np.cumsum(state.phi**h)
        return state.level + damp * state.trend + _seasonal(state, indices)


def _seasonal(state: _State, indices: np.ndarray) -> np.ndarray:
    total = np.zeros(indices.size)
    for profile in state.profiles:
        total += profile[indices % profile.size]
    return total


def _holt(s: _State, values: np.ndarray) -> None:
    """Additive damped-trend Holt update, one coarse bucket at a time."""
    for y in values:
        prev_level = s.level
        s.level = s.alpha * y + (1 - s.alpha) * (prev_level + s.phi * s.trend)
        s.trend = s.beta * (s.level - prev_level) + (1 - s.beta) * s.phi * s.trend
