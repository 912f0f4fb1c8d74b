"""The rolling-origin engine: replay a series through one forecaster exactly as production does.

For each origin o (a bucket boundary), the forecaster gets what `Window.complete` would hand
it at that moment: the last ceil(history_s / bucket_s) buckets before o, and end_s = the
boundary's time. It is built with `build_with_upper`, the same ConformalUpper wrapper the
engine uses, so refit cadences, fallbacks and the calibration of the upper quantile all run
as they would in a pod that had been up since the series began.

What the plan uses is asked exactly as the planner asks it. The engine forecasts
ceil(horizon_s / bucket_s) + 1 steps from the bucket boundary (a decision falls anywhere in
the bucket, and the last one in it looks horizon_s past its end) and provisions for
`Forecast.horizon_peak(now + horizon_s)`: the peak over those steps, calibrated on the
forecaster's own past peaks. So does every origin here, with now = the boundary. Kept per
origin: the mean and upper of every step (point metrics score the bucket at the horizon,
step `horizon_steps`) and the plan's peak (provisioning metrics compare it with the actual
peak over all the forecast's steps, the buckets the decisions made from it must cover).
Worked number: 300 s at 60 s buckets -> 6 steps, 6 minutes of peak; 300 s at 480 s
buckets -> 2 steps, 16 minutes (a decision at the end of the first bucket looks 5 minutes
into the second).

Stride: with stride k > 1 the forecaster is called only every k-th bucket, which is what
makes slow kinds affordable but changes what is measured. Stateful forecasters see larger
jumps between calls (they catch up from the history they are given, as after a missed
decision), and ConformalUpper only stores an error row for a bucket that was forecast from
*every* origin up to the horizon before it, so with stride > 1 and a horizon of more than
one bucket it never calibrates: the upper comes from the history-spread fallback.
`RollingRun.calibrated` records this per origin and backtest.json reports the share.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from pydantic import BaseModel

from autoscaler.backtest.metrics import window_peaks
from autoscaler.backtest.series import DemandSeries
from autoscaler.forecast.registry import FORECASTERS, build_with_upper

_DIGITS = re.compile(r"\d+(\.\d+)?")  # "has 3.5 h" and "has 4.0 h" are one note
UNCALIBRATED = "quantile from history spread"  # ConformalUpper's note while it lacks errors

# Kinds that refit from scratch at every call (arima-per-interval fits ~15 ARIMA models each
# time: 0.2-2 s per origin here), so a week of minute buckets would take hours. Left out of
# the default list; name them with --forecasters, ideally with --stride-s.
SLOW_KINDS = ("arima-per-interval",)

Progress = Callable[[int, int], None]  # (origins done, origins total)


@dataclass(frozen=True)
class RollingRun:
    """Forecasts of one forecaster at every evaluated origin.

    Row r was made at the boundary before bucket `origins[r]` and covers buckets
    origins[r] ... origins[r] + steps - 1 of the series: the `horizon_steps` buckets of the
    horizon and the one more the engine forecasts.
    """

    kind: str
    settings: Any  # the validated pydantic settings the forecaster ran with
    origins: np.ndarray  # int bucket indices, ascending
    mean: np.ndarray  # (origins, steps)
    upper: np.ndarray  # (origins, steps)
    peak: np.ndarray  # per origin: what the plan provisions for, Forecast.horizon_peak
    calibrated: np.ndarray  # bool per origin: the upper came from out-of-sample errors
    peak_calibrated: np.ndarray  # bool per origin: the peak came from past peaks, not the
    # largest per-step upper (ConformalUpper had seen too few peaks, or --stride-s)
    notes: dict[str, int]  # each Forecast.note (numbers as #) -> origins that carried it
    horizon_steps: int  # ceil(horizon_s / bucket_s): the bucket at the horizon is the last

    @property
    def steps(self) -> int:
        """Forecast steps per origin: `forecast_steps(horizon_steps)`."""
        return int(self.mean.shape[1])

    def actual_peaks(self, series: DemandSeries) -> np.ndarray:
        """Per origin: the largest observed value over the forecast's steps (NaN when all
        are gaps): what the decisions made from that forecast had to serve."""
        return window_peaks(self.actual_windows(series))

    def actual_windows(self, series: DemandSeries) -> np.ndarray:
        """(origins, steps): the observed values of the buckets each row forecast."""
        idx = self.origins[:, None] + np.arange(self.steps)[None, :]
        return series.values[idx]


def default_kinds() -> list[str]:
    """Every registered kind except SLOW_KINDS: the default of backtest and tune."""
    return [kind for kind in FORECASTERS if kind not in SLOW_KINDS]


def horizon_steps(horizon_s: float, bucket_s: float) -> int:
    """Buckets ahead the horizon reaches: ceil(horizon_s / bucket_s), at least 1.
    Worked number: 300 s at 60 s buckets -> 5; 300 s at 600 s buckets -> 1."""
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise ValueError(f"horizon_s must be > 0, got {horizon_s}")
    # The tolerance keeps 300 / 60.000000001 from becoming 6 steps.
    return max(1, math.ceil(horizon_s / bucket_s - 1e-9))


_steps_of = horizon_steps  # rolling_origin's parameter of that name hides the function


def forecast_steps(horizon_steps: int) -> int:
    """Steps the engine forecasts for a horizon of `horizon_steps` buckets: one more, since
    a decision falls anywhere in the bucket (autoscaler/engine.py). 5 -> 6."""
    return horizon_steps + 1


def make_settings(
    kind: str, bucket_s: float, quantile: float | None = None, **overrides: Any
) -> Any:
    """Settings of a registered kind with the series' bucket width (validated; a
    pydantic ValidationError names a bad override). Unknown kinds raise ValueError."""
    if kind not in FORECASTERS:
        raise ValueError(f"unknown forecaster kind {kind!r}; known: {', '.join(FORECASTERS)}")
    settings_cls = cast("type[BaseModel]", FORECASTERS[kind][0])
    data: dict[str, Any] = {"kind": kind, "bucket_s": bucket_s, **overrides}
    if quantile is not None:
        data["quantile"] = quantile
    fit_field = settings_cls.model_fields.get("fit_bucket_s")
    if fit_field is not None and "fit_bucket_s" not in overrides:
        # A fit bucket must hold whole series buckets. One finer than the series' bucket
        # cannot be made, and Holt-Winters would then count its season in fit_bucket_s
        # units of data that are really bucket_s wide (288 "5-minute" buckets of 600 s are
        # two days), so it would never find two seasons. Round up to a whole multiple:
        # 300 s stays 300 s at 60 s buckets, becomes 600 s at 600 s buckets.
        default = float(fit_field.default)
        data["fit_bucket_s"] = max(1, math.ceil(default / bucket_s - 1e-9)) * bucket_s
    return settings_cls.model_validate(data)


def origin_indices(series: DemandSeries, horizon_steps: int, stride: int = 1) -> np.ndarray:
    """The origins `rolling_origin` forecasts from: every `stride`-th boundary from after the
    first bucket to the last whose forecast steps (`forecast_steps`) are all observed.
    Raises ValueError if none."""
    steps = forecast_steps(horizon_steps)
    origins = np.arange(1, series.n_buckets - steps + 1, stride, dtype=np.int64)
    if origins.size == 0:
        raise ValueError(
            f"{series.name}: {series.n_buckets} buckets cannot hold one origin plus a horizon"
            f" of {horizon_steps} bucket(s) and the one more the plan forecasts"
        )
    return origins


def rolling_origin(
    series: DemandSeries,
    settings: Any,
    horizon_steps: int,
    *,
    horizon_s: float | None = None,
    stride: int = 1,
    on_progress: Progress | None = None,
) -> RollingRun:
    """Forecasts from every `stride`-th boundary, from after the first bucket to the last
    boundary whose forecast steps are all observed, and the plan's peak over `horizon_s`
    (default: horizon_steps buckets; given, it must round up to horizon_steps). Raises
    ValueError if there is no origin."""
    if horizon_steps < 1 or stride < 1:
        raise ValueError(f"need horizon_steps >= 1 and stride >= 1, got {horizon_steps}, {stride}")
    if abs(settings.bucket_s - series.bucket_s) > 1e-9 * series.bucket_s:
        raise ValueError(
            f"settings bucket_s {settings.bucket_s} differs from the series' {series.bucket_s}"
        )
    if horizon_s is None:
        horizon_s = horizon_steps * series.bucket_s
    elif _steps_of(horizon_s, series.bucket_s) != horizon_steps:
        raise ValueError(
            f"horizon_s {horizon_s:g} is not {horizon_steps} bucket(s) of {series.bucket_s:g} s"
        )
    origins = origin_indices(series, horizon_steps, stride)
    steps = forecast_steps(horizon_steps)
    capacity = math.ceil(settings.history_s / settings.bucket_s)  # as Window keeps
    wrapper = build_with_upper(settings)
    mean = np.empty((origins.size, steps))
    upper = np.empty((origins.size, steps))
    peak = np.empty(origins.size)
    calibrated = np.zeros(origins.size, dtype=bool)
    peak_calibrated = np.zeros(origins.size, dtype=bool)
    notes: Counter[str] = Counter()
    values = series.values
    report_every = max(1, origins.size // 200)
    for row, origin in enumerate(origins):
        history = values[max(0, origin - capacity) : origin]
        end_s = series.start_s + origin * series.bucket_s
        forecast = wrapper.forecast(history, end_s, steps)
        mean[row] = forecast.mean
        upper[row] = forecast.upper
        peak[row] = forecast.horizon_peak(end_s + horizon_s)  # as the planner asks, now = end_s
        peak_calibrated[row] = forecast.calibrated_peak is not None
        calibrated[row] = UNCALIBRATED not in forecast.note
        if forecast.note:
            notes[_DIGITS.sub("#", forecast.note)] += 1
        if on_progress is not None and (row + 1) % report_every == 0:
            on_progress(row + 1, origins.size)
    if on_progress is not None:
        on_progress(origins.size, origins.size)
    return RollingRun(
        settings.kind,
        settings,
        origins,
        mean,
        upper,
        peak,
        calibrated,
        peak_calibrated,
        dict(notes),
        horizon_steps,
    )
