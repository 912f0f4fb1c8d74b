"""ARIMA refit every decision interval, one step ahead, held flat: NVIDIA Dynamo's planner.

A baseline, kept faithful rather than clever. Dynamo's `ARIMAPredictor` keeps the last
`window_size` (100) observations, answers the last value until it has 5, and otherwise fits
`pmdarima.auto_arima(buffer)` afresh at every adjustment interval and uses
`predict(n_periods=1)[0]` as the load for the next interval; a constant buffer is answered
with its value. pmdarima is not a dependency here, so its default search is reproduced with
statsmodels: d from repeated KPSS tests (alpha 0.05, at most 2), then the stepwise AIC search
(Hyndman-Khandakar) from (2,d,2), (0,d,0), (1,d,0), (0,d,1), with p, q <= 5, p + q <= 5 and an
intercept while d < 2. `order` pins one order instead (cheaper, for long backtests).

Deliberate deviations, both shared by every kind here: a gap is forward-filled (Dynamo
appends 0, reading a scrape gap as zero demand) and a counter-reset dip is masked.
Cost: each call fits a handful to ~15 models of 100 points (~10-30 ms each), no state kept.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from autoscaler.forecast.clean import clean_history
from autoscaler.forecast.forecast import PointForecast, last_finite
from autoscaler.forecast.quiet import quiet_fit
from autoscaler.forecast.settings import ForecastSettingsBase

_MIN_POINTS = 5  # Dynamo's minimum_data_points
_MAX_P = _MAX_Q = 5
_MAX_ORDER = 5  # pmdarima's max_order: p + q
_MAX_D = 2
_MAX_MODELS = 30


class ArimaIntervalSettings(ForecastSettingsBase):
    kind: Literal["arima-per-interval"] = "arima-per-interval"
    window_buckets: int = Field(100, ge=_MIN_POINTS, le=2000, description="Dynamo's window_size")
    order: Literal["auto"] | tuple[int, int, int] = Field(
        "auto", description="'auto' searches like pmdarima.auto_arima; or a fixed (p, d, q)"
    )

    @field_validator("order")
    @classmethod
    def _small_order(cls, order: object) -> object:
        if isinstance(order, tuple):
            p, d, q = order
            if not (0 <= p <= _MAX_P and 0 <= d <= _MAX_D and 0 <= q <= _MAX_Q):
                raise ValueError("order needs 0 <= p <= 5, 0 <= d <= 2, 0 <= q <= 5")
        return order


class ArimaIntervalForecaster:
    def __init__(self, settings: ArimaIntervalSettings) -> None:
        self.settings = settings
        self._last: tuple[float, bytes, PointForecast] | None = None

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        buffer = clean_history(history)[-self.settings.window_buckets :]
        key = buffer.tobytes()
        if self._last is not None and self._last[:2] == (end_s, key):
            one = self._last[2]  # same interval asked twice: Dynamo fits once per interval
        else:
            one = self._one_step(history, buffer)
            self._last = (end_s, key, one)
        return PointForecast(np.full(horizon_steps, one.mean[0]), one.method, one.note)

    def _one_step(self, history: np.ndarray, buffer: np.ndarray) -> PointForecast:
        if buffer.size < _MIN_POINTS:
            return PointForecast(
                np.array([last_finite(history)]),
                "last-value",
                f"arima-per-interval needs {_MIN_POINTS} buckets, has {buffer.size}",
            )
        if np.ptp(buffer) == 0:
            return PointForecast(buffer[-1:], "arima-per-interval")
        with quiet_fit():  # pmdarima's suppress_warnings=True
            try:
                order, intercept, fit = self._fit(buffer)
            except Exception as exc:  # pmdarima's error_action="ignore" has nothing left
                return PointForecast(
                    buffer[-1:],
                    "last-value",
                    f"arima-per-interval fit failed ({type(exc).__name__}: {exc});"
                    " holding the last value",
                )
            value = float(np.asarray(fit.forecast(1))[0])
        if not np.isfinite(value):
            return PointForecast(buffer[-1:], "last-value", "arima-per-interval diverged")
        suffix = " with intercept" if intercept else ""
        return PointForecast(np.array([value]), "arima-per-interval", f"ARIMA{order}{suffix}")

    def _fit(self, y: np.ndarray) -> tuple[tuple[int, int, int], bool, Any]:
        order = self.settings.order
        if order != "auto":
            p, d, q = order
            return (p, d, q), d < 2, _fit_one(y, (p, d, q), d < 2)
        return _stepwise(y, _ndiffs(y))


def _fit_one(y: np.ndarray, order: tuple[int, int, int], intercept: bool) -> Any:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    model = SARIMAX(y, order=order, trend="c" if intercept else "n")
    return model.fit(disp=False, method="lbfgs", maxiter=50)  # pmdarima's defaults


def _ndiffs(y: np.ndarray) -> int:
    """pmdarima.ndiffs(test='kpss'): difference while KPSS rejects level stationarity."""
    from statsmodels.tsa.stattools import kpss

    d, x = 0, y
    while d < _MAX_D and x.size > 10 and np.ptp(x) > 0:
        lags = int(3 * np.sqrt(x.size) / 13)  # pmdarima's short lag truncation
        if kpss(x, regression="c", nlags=lags)[1] >= 0.05:
            break
        x = np.diff(x)
        d += 1
    return d


def _stepwise(y: np.ndarray, d: int) -> tuple[tuple[int, int, int], bool, Any]:
    """Hyndman-Khandakar stepwise search on AIC, as pmdarima's auto_arima does it."""
    tried: dict[tuple[int, int, bool], tuple[float, Any]] = {}

    def aic(p: int, q: int, intercept: bool) -> float:
        key = (p, q, intercept)
        if key not in tried:
            if p < 0 or q < 0 or p > _MAX_P or q > _MAX_Q or p + q > _MAX_ORDER:
                return np.inf
            try:
                fit = _fit_one(y, (p, d, q), intercept)
                tried[key] = (float(fit.aic), fit)
            except Exception:  # error_action="ignore": a failing candidate is skipped
                tried[key] = (np.inf, None)
        return tried[key][0]

    with_intercept = d < 2
    for p, q in ((2, 2), (0, 0), (1, 0), (0, 1)):
        aic(p, q, with_intercept)
    best = min(tried, key=lambda k: tried[k][0])
    improved = True
    while improved and len(tried) < _MAX_MODELS:
        improved = False
        p, q, c = best
        moves = [
            (p - 1, q, c),
            (p + 1, q, c),
            (p, q - 1, c),
            (p, q + 1, c),
            (p - 1, q - 1, c),
            (p + 1, q + 1, c),
            (p - 1, q + 1, c),
            (p + 1, q - 1, c),
        ]
        if d < 2:  # a constant after two differences is a quadratic trend: never offered
            moves.append((p, q, not c))
        for move in moves:
            if aic(*move) < tried[best][0]:
                best, improved = move, True
                break
    score, fit = tried[best]
    if fit is None or not np.isfinite(score):
        raise ValueError("no ARIMA order could be fitted")
    return (best[0], d, best[1]), best[2], fit
