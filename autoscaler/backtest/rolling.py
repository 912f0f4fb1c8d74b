"""The rolling-origin engine: replay a series through one forecaster exactly as production does.

For each origin o (a bucket boundary), the forecaster gets what `Window.complete` would hand
it at that moment: the last ceil(history_s / bucket_s) buckets before o, and end_s = the
boundary's time. It is built with `build_with_upper`, the same ConformalUpper wrapper the
engine uses, so refit cadences, fallbacks and the calibration of the upper quantile all run
as they would in a pod that had been up since the series began. Every step up to the
horizon is kept (mean and upper), so metrics can score the horizon bucket and the peak.

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
    origins[r] ... origins[r] + steps - 1 of the series.
    """

    kind: str
    settings: Any  # the validated pydantic settings the forecaster ran with
    origins: np.ndarray  # int bucket indices, ascending
    mean: np.ndarray  # (origins, steps)
    upper: np.ndarray  # (origins, steps)
    calibrated: np.ndarray  # bool per origin: the upper came from out-of-sample errors
    notes: dict[str, int]  # each Forecast.note (numbers as #) -> origins that carried it

    @property
    def steps(self) -> int:
        return int(self.mean.shape[1])

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
    first bucket to the last whose whole horizon is observed. Raises ValueError if none."""
    origins = np.arange(1, series.n_buckets - horizon_steps + 1, stride, dtype=np.int64)
    if origins.size == 0:
        raise ValueError(
            f"{series.name}: {series.n_buckets} buckets cannot hold one origin plus a horizon"
            f" of {horizon_steps} bucket(s)"
        )
    return origins


def rolling_origin(
    series: DemandSeries,
    settings: Any,
    horizon_steps: int,
    *,
    stride: int = 1,
    on_progress: Progress | None = None,
) -> RollingRun:
    """Forecasts from every `stride`-th boundary, from after the first bucket to the last
    boundary whose whole horizon is observed. Raises ValueError if there is none."""
    if horizon_steps < 1 or stride < 1:
        raise ValueError(f"need horizon_steps >= 1 and stride >= 1, got {horizon_steps}, {stride}")
    if abs(settings.bucket_s - series.bucket_s) > 1e-9 * series.bucket_s:
        raise ValueError(
            f"settings bucket_s {settings.bucket_s} differs from the series' {series.bucket_s}"
        )
    origins = origin_indices(series, horizon_steps, stride)
    capacity = math.ceil(settings.history_s / settings.bucket_s)  # as Window keeps
    wrapper = build_with_upper(settings)
    mean = np.empty((origins.size, horizon_steps))
    upper = np.empty((origins.size, horizon_steps))
    calibrated = np.zeros(origins.size, dtype=bool)
    notes: Counter[str] = Counter()
    values = series.values
    report_every = max(1, origins.size // 200)
    for row, origin in enumerate(origins):
        history = values[max(0, origin - capacity) : origin]
        end_s = series.start_s + origin * series.bucket_s
        forecast = wrapper.forecast(history, end_s, horizon_steps)
        mean[row] = forecast.mean
        upper[row] = forecast.upper
        calibrated[row] = UNCALIBRATED not in forecast.note
        if forecast.note:
            notes[_DIGITS.sub("#", forecast.note)] += 1
        if on_progress is not None and (row + 1) % report_every == 0:
            on_progress(row + 1, origins.size)
    if on_progress is not None:
        on_progress(origins.size, origins.size)
    return RollingRun(settings.kind, settings, origins, mean, upper, calibrated, dict(notes))
