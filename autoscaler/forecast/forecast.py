"""The forecast value and the seam every forecaster implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Forecast:
    """Mean and upper quantile for steps start_s, start_s + step_s, ...

    `note` says when a forecaster fell back to something simpler (short history, failed fit),
    so the decision's reason can carry it.
    """

    start_s: float
    step_s: float
    mean: np.ndarray
    upper: np.ndarray
    quantile: float
    method: str
    note: str = ""
    # The `quantile` upper quantile of the largest value over all steps, calibrated on the
    # forecaster's own past peaks (ConformalUpper); None until enough of them were seen.
    calibrated_peak: float | None = None

    def __post_init__(self) -> None:
        if self.mean.shape != self.upper.shape:
            raise ValueError("Forecast.mean and Forecast.upper must have the same shape")

    @property
    def steps(self) -> int:
        return int(self.mean.shape[0])

    def horizon_mean_peak(self, until_s: float) -> float:
        """The largest mean over the steps that start before `until_s`."""
        if not self.steps:
            return 0.0
        return float(self.mean[: self._steps_before(until_s)].max())

    def _steps_before(self, until_s: float) -> int:
        return max(1, min(int(np.ceil((until_s - self.start_s) / self.step_s)), self.steps))

    def horizon_peak(self, until_s: float) -> float:
        """What the plan provisions for: the upper quantile of the peak over the steps that
        start before `until_s`.

        Calibrated directly when possible: the calibrated peak spans every step, and the
        engine forecasts one step more than a horizon from the bucket's start needs (a
        decision falls anywhere in the bucket), so it is used when the horizon reaches at
        least the last step but one; a peak is then seen up to one bucket early, never late.
        Otherwise the largest per-step upper: each step covers its own value at the quantile,
        but their maximum covers the peak at an unknown level, wide when the steps move
        together and short when a burst hits one of them.
        """
        if not self.steps:
            return 0.0
        n = self._steps_before(until_s)
        if self.calibrated_peak is not None and n >= self.steps - 1:
            return max(self.calibrated_peak, 0.0)
        return float(self.upper[:n].max())


@dataclass(frozen=True)
class PointForecast:
    """What a forecaster returns: means per step, plus a note if it fell back."""

    mean: np.ndarray
    method: str
    note: str = ""


class Forecaster(Protocol):
    """Predicts the mean of a bucketed series over the next `horizon_steps` buckets.

    `history` holds one value per bucket, oldest first; NaN marks a bucket with no data.
    `end_s` is the end time of the last bucket. Implementations may keep fitted parameters
    between calls (refit on a slow cadence) but must answer from the history they are given.
    Upper quantiles are added by `ConformalUpper`, from the forecaster's own recent errors.
    """

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast: ...


def last_finite(history: np.ndarray) -> float:
    """The newest non-NaN value, or 0.0 when there is none."""
    finite = np.flatnonzero(np.isfinite(history))
    return float(history[finite[-1]]) if finite.size else 0.0


def fill_gaps(history: np.ndarray) -> np.ndarray:
    """Forward-fill NaN buckets (leading NaN become the first finite value, or 0)."""
    values = np.asarray(history, dtype=float)
    mask = np.isfinite(values)
    if mask.all():
        return values
    if not mask.any():
        return np.zeros_like(values)
    idx = np.where(mask, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = values[idx]
    first = int(np.argmax(mask))
    filled[:first] = values[first]
    return filled
