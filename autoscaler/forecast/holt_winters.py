"""Holt-Winters (additive, damped trend): statsmodels fits, a cheap recursion in between.

Fitting ExponentialSmoothing on a week of 5-minute buckets takes a fraction of a second, too
much to repeat every decision for many models. So parameters are refitted every
`refit_every_s` (sooner while the history is young), and between refits the
level/trend/season state is advanced one coarse bucket at a time with the same update
equations statsmodels uses (O(1) per bucket).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from autoscaler.forecast.clean import mask_resets
from autoscaler.forecast.first_fit import FirstFitBackoff
from autoscaler.forecast.forecast import PointForecast, fill_gaps, last_finite
from autoscaler.forecast.settings import (
    ForecastSettingsBase,
    require_history,
    require_whole_buckets,
)

_MIN_FIT_BUCKETS = 12


class HoltWintersSettings(ForecastSettingsBase):
    kind: Literal["holt-winters"] = "holt-winters"
    season_s: float = Field(86400.0, gt=0, description="seasonal period")
    fit_bucket_s: float = Field(300.0, gt=0, description="history is averaged to this for fits")
    refit_every_s: float = Field(86400.0, gt=0, description="parameter refit cadence")
    damped_trend: bool = True
    initialization: Literal["profile", "estimated", "heuristic"] = Field(
        "profile",
        description="starting level/trend/season: 'profile' from the average shape of every "
        "whole season in the history (~35 ms for a week of 5-minute buckets), 'estimated' "
        "optimises them with the smoothing parameters (~1 s, the same fit on the shared "
        "traces), 'heuristic' from the first two seasons only (~35 ms, less accurate)",
    )

    @model_validator(mode="after")
    def _whole_buckets_and_two_seasons(self) -> HoltWintersSettings:
        require_whole_buckets(self.bucket_s, self.fit_bucket_s, self.season_s)
        # A season is fitted only once the history holds two of them (`_fit`): with less
        # kept it would never be, and the forecaster would say so at every decision.
        require_history(self, 2 * self.season_s, "for two seasons of season_s")
        return self


@dataclass
class _State:
    alpha: float
    beta: float
    gamma: float
    phi: float
    level: float
    trend: float
    season: np.ndarray | None  # one value per coarse bucket of the season, oldest first
    fitted_until_s: float  # end time of the newest coarse bucket absorbed
    fitted_on: int  # coarse buckets the parameters were fitted on
    seasonal: bool
    fitted_at_s: float
    note: str = ""  # why this fit is simpler than asked (kept until the next refit)


class HoltWintersForecaster:
    def __init__(self, settings: HoltWintersSettings) -> None:
        self.settings = settings
        self.inline_refits = True  # off: a refit pool fits, `predict` only advances the state
        self._state: _State | None = None
        self._first_fit = FirstFitBackoff(settings.refit_every_s)

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        history = mask_resets(history)  # a counter reset reads ~0 for one bucket: not demand
        coarse, coarse_end_s, partial, factor = self._coarse(history, end_s)
        if coarse.size < _MIN_FIT_BUCKETS:
            return PointForecast(
                np.full(horizon_steps, last_finite(history)),
                "last-value",
                f"holt-winters needs {_MIN_FIT_BUCKETS} buckets of {self.settings.fit_bucket_s:.0f}"
                f" s, has {coarse.size}",
            )
        state = self._state
        if state is None and self._first_fit.waits(end_s):
            return PointForecast(
                np.full(horizon_steps, last_finite(history)),
                "last-value",
                "holt-winters' first fit failed; holding the last value until a retry",
            )
        new_buckets = self._new_buckets(state, coarse_end_s, factor)
        due = state is None or self._refit_due(state, coarse.size, end_s, new_buckets)
        can_catch_up = state is not None and 0 <= new_buckets <= coarse.size
        failure = ""
        if due and self.inline_refits:
            try:
                state = self._fit(coarse, end_s)
            except Exception as exc:  # numerical failures in statsmodels are not exceptional
                failure = f"holt-winters fit failed ({type(exc).__name__}: {exc})"
                if state is None:
                    self._first_fit.failed(end_s)
                if state is None or not can_catch_up:
                    return PointForecast(
                        np.full(horizon_steps, last_finite(history)),
                        "last-value",
                        f"{failure}; holding the last value",
                    )
                state.fitted_at_s = end_s  # retry at the next cadence, not at every call
                failure += "; keeping the previous parameters"
                if new_buckets:
                    _advance(state, coarse[coarse.size - new_buckets :])
        elif state is None or not can_catch_up:
            waits = "its first fit" if state is None else "a refit"
            return PointForecast(
                np.full(horizon_steps, last_finite(history)),
                "last-value",
                f"holt-winters waits for {waits} from the refit pool",
            )
        elif new_buckets:
            _advance(state, coarse[coarse.size - new_buckets :])
        state.fitted_until_s = coarse_end_s
        self.install(state)
        coarse_steps = int(np.ceil((horizon_steps + partial) / factor)) + 1
        coarse_mean = _forecast(state, coarse_steps)
        # Window step k lands in coarse step (partial + k) // factor: the filling one is step 0.
        idx = (np.arange(horizon_steps) + partial) // factor
        mean = np.maximum(coarse_mean[idx], 0.0)
        return PointForecast(mean, "holt-winters", "; ".join(n for n in (state.note, failure) if n))

    # -- the refit pool's side (see autoscaler/forecast/refit_pool.py) --------------------
    def fit_on(self, history: np.ndarray, end_s: float) -> _State | None:
        """Parameters for this history, or None when it is too short. Pure: safe to run in a
        worker process; `install` adopts the result."""
        coarse, coarse_end_s, _, _ = self._coarse(mask_resets(history), end_s)
        if coarse.size < _MIN_FIT_BUCKETS:
            return None
        state = self._fit(coarse, end_s)
        state.fitted_until_s = coarse_end_s
        return state

    def install(self, state: _State | None) -> None:
        if state is not None:
            self._state = state
            self._first_fit.succeeded()

    def fit_failed(self, end_s: float) -> None:
        if self._state is not None:
            self._state.fitted_at_s = end_s  # retry at the next cadence, not every call
        else:
            self._first_fit.failed(end_s)

    def refit_due(self, history: np.ndarray, end_s: float) -> bool:
        coarse, coarse_end_s, _, factor = self._coarse(mask_resets(history), end_s)
        if coarse.size < _MIN_FIT_BUCKETS:
            return False
        state = self._state
        if state is None:
            return not self._first_fit.waits(end_s)
        new_buckets = self._new_buckets(state, coarse_end_s, factor)
        return self._refit_due(state, coarse.size, end_s, new_buckets)

    def _coarse(self, history: np.ndarray, end_s: float) -> tuple[np.ndarray, float, int, int]:
        """(coarse buckets, end of the newest, window buckets past it, window buckets per
        coarse bucket). Coarse buckets are aligned to absolute time, so the state can catch
        up after the window slides: `partial` window buckets belong to the coarse bucket
        still filling."""
        factor = max(1, int(round(self.settings.fit_bucket_s / self.settings.bucket_s)))
        fit_bucket_s = factor * self.settings.bucket_s
        partial = int(round((end_s % fit_bucket_s) / self.settings.bucket_s)) % factor
        coarse = _coarsen(fill_gaps(history)[: history.size - partial], factor)
        return coarse, end_s - partial * self.settings.bucket_s, partial, factor

    def _new_buckets(self, state: _State | None, coarse_end_s: float, factor: int) -> int:
        if state is None:
            return -1
        return int(round((coarse_end_s - state.fitted_until_s) / (factor * self.settings.bucket_s)))

    def _period(self) -> int:
        """Season length in the coarse buckets actually fitted. Those are a whole number of
        window buckets (fit_bucket_s rounded to one), so with 600 s window buckets and the
        default 300 s fit bucket a day is 144 coarse buckets, not 288."""
        factor = max(1, int(round(self.settings.fit_bucket_s / self.settings.bucket_s)))
        return int(round(self.settings.season_s / (factor * self.settings.bucket_s)))

    def _refit_due(self, state: _State, buckets: int, end_s: float, new_buckets: int) -> bool:
        """Parameters fitted on a young history are poor: refit whenever the history has
        doubled or a second season completed, then every `refit_every_s`."""
        period = self._period()
        return (
            end_s - state.fitted_at_s >= self.settings.refit_every_s
            or not 0 <= new_buckets <= buckets
            or buckets >= 2 * state.fitted_on
            or (not state.seasonal and period >= 2 and buckets >= 2 * period)
        )

    def _fit(self, coarse: np.ndarray, end_s: float) -> _State:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        period = self._period()
        seasonal = period >= 2 and coarse.size >= 2 * period
        note = "" if seasonal else "holt-winters without season: less than two seasons of history"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; a poor fit still forecasts
            init = self.settings.initialization if seasonal else "estimated"
            start = _profile_start(coarse, period) if init == "profile" else {}
            model = ExponentialSmoothing(
                coarse,
                trend="add",
                damped_trend=self.settings.damped_trend,
                seasonal="add" if seasonal else None,
                seasonal_periods=period if seasonal else None,
                initialization_method="known" if start else init,
                **start,
            )
            # With known or heuristic starts the brute-force grid of starting smoothing values
            # was 90 % of the fit time for the same optimum; estimated starts need it.
            fit = model.fit(use_brute=init == "estimated")
        params = fit.params
        state = _State(
            alpha=float(params["smoothing_level"]),
            beta=float(params.get("smoothing_trend") or 0.0),
            gamma=float(params.get("smoothing_seasonal") or 0.0) if seasonal else 0.0,
            phi=float(params.get("damping_trend") or 1.0) if self.settings.damped_trend else 1.0,
            level=float(fit.level[-1]),
            trend=float(fit.trend[-1]),
            season=np.asarray(fit.season[-period:], dtype=float) if seasonal else None,
            fitted_until_s=0.0,  # set by the caller
            fitted_on=coarse.size,
            seasonal=seasonal,
            fitted_at_s=end_s,
            note=note,
        )
        return state


def _profile_start(coarse: np.ndarray, period: int) -> dict[str, Any]:
    """Starting states from every whole season in the history, so only the four smoothing
    parameters are optimised (statsmodels' 'estimated' also optimises the ~290 starting
    states, 30x slower, to the same fit within 0.1 % of its squared error on a week of
    5-minute buckets): the first season's mean as level, the slope of the season means as
    trend, and the average shape of a season around its mean. Worked number: two seasons of
    two buckets, [90, 110] then [100, 120] -> level 100, trend (110 - 100) / 2 = 5 per
    bucket, season [-10, +10]."""
    seasons = coarse.size // period
    shape = coarse[: seasons * period].reshape(seasons, period)
    means = shape.mean(axis=1)
    slope = (means[-1] - means[0]) / ((seasons - 1) * period) if seasons > 1 else 0.0
    return {
        "initial_level": float(means[0]),
        "initial_trend": float(slope),
        "initial_seasonal": (shape - means[:, None]).mean(axis=0),
    }


def _coarsen(values: np.ndarray, factor: int) -> np.ndarray:
    """Means of groups of `factor` buckets ending at the newest; an incomplete oldest group is
    dropped."""
    start = values.size % factor
    return values[start:].reshape(-1, factor).mean(axis=1)


def _advance(s: _State, new_values: np.ndarray) -> None:
    """Additive damped Holt-Winters update, one coarse bucket at a time."""
    for y in new_values:
        seasonal = s.season[0] if s.season is not None else 0.0
        prev_level, prev_trend = s.level, s.trend
        s.level = s.alpha * (y - seasonal) + (1 - s.alpha) * (prev_level + s.phi * prev_trend)
        s.trend = s.beta * (s.level - prev_level) + (1 - s.beta) * s.phi * prev_trend
        if s.season is not None:
            new_season = s.gamma * (y - prev_level - s.phi * prev_trend) + (1 - s.gamma) * seasonal
            s.season = np.append(s.season[1:], new_season)


def _forecast(s: _State, steps: int) -> np.ndarray:
    h = np.arange(1, steps + 1)
    damp = np.cumsum(s.phi**h)
    mean = s.level + damp * s.trend
    if s.season is not None:
        mean = mean + s.season[(h - 1) % s.season.size]
    return mean
