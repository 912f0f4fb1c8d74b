"""Upper quantiles from a forecaster's own out-of-sample errors, not from a normal assumption.

Every forecast is remembered; when the bucket it predicted is observed, the relative error
(actual - predicted) / scale is stored per horizon step. The upper quantile at step k is the
mean plus the empirical q-quantile of the step-k errors over the last `error_window_s`.
Worked number: predicted 1,000 tok/s, 95th percentile of past step-5 errors is +0.12 ->
upper = 1,120 tok/s. Errors are relative because demand swings ~9x over a day and an error
of 50 tok/s means something different at night than at noon.

Until enough errors exist (a new model), the quantile falls back to the spread of the
history's own bucket-to-bucket changes, widened with sqrt(k), and the note says so.

Calibration starts afresh the first time the forecaster answers with a method it never used
before: a new model holds the last value until it has history for its real method (or its
first fit from the refit pool), and the last value's errors say nothing about the real
method's. A return to a method seen before (a fit failed and a fallback held for a while)
keeps the errors, so a flapping forecaster does not keep discarding its evidence.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from autoscaler.forecast.forecast import Forecast, Forecaster, PointForecast, last_finite

MIN_ERRORS = 30  # fewer than this and an empirical quantile is mostly noise
# Errors are kept as float16: a day of minute buckets x the horizon's steps x 2 series is
# ~30 KB per model instead of ~60 KB in float32, a thousand models' worth of the scaler's
# memory, and a quantile of relative errors needs 3 significant digits, not 7.
_ERROR_DTYPE = np.float16
_MAX_RELATIVE_ERROR = 1000.0  # float16 overflows past 65,504; a 1000x miss already says "any"
_FALLBACK_FLOOR = 0.10  # never claim to know the future better than +-10 % without evidence


class ConformalUpper:
    """Wraps a forecaster and adds a calibrated upper quantile to its means."""

    def __init__(
        self, forecaster: Forecaster, *, quantile: float, bucket_s: float, error_window_s: float
    ) -> None:
        self.forecaster = forecaster
        self.quantile = quantile
        self.bucket_s = bucket_s
        self._max_errors = max(MIN_ERRORS, int(error_window_s / bucket_s))
        # Ring of relative errors: row = scored bucket, column = horizon step, NaN = none yet.
        self._errors = np.full((self._max_errors, 0), np.nan, dtype=_ERROR_DTYPE)
        self._next_row = 0
        self._pending: dict[int, np.ndarray] = {}  # origin bucket -> (mean, scale) rows
        self._scored_until = -1  # newest bucket index whose actual has been scored
        self._methods: set[str] = set()  # methods the forecaster has answered with

    def forecast(self, history: np.ndarray, end_s: float, horizon_steps: int) -> Forecast:
        origin = int(round(end_s / self.bucket_s))  # index of the first forecast bucket
        self._score(history, origin)
        try:
            point = self.forecaster.predict(history, end_s, horizon_steps)
        except Exception as exc:  # a failed fit must not stop decisions for the model
            point = PointForecast(
                np.full(horizon_steps, last_finite(history)),
                "last-value",
                f"forecaster failed ({type(exc).__name__}: {exc}); holding the last value",
            )
        if point.method not in self._methods:
            if self._methods:
                self._restart_calibration()
            self._methods.add(point.method)
        mean = np.maximum(np.asarray(point.mean, dtype=float), 0.0)
        scale = np.maximum(mean, self._scale_floor(history))
        self._pending[origin] = np.vstack([mean, scale])
        if self._errors.shape[1] != horizon_steps:
            self._reshape(horizon_steps)
        rel, calibrated = self._relative_upper(history, horizon_steps)
        note = point.note
        if not calibrated:
            extra = "quantile from history spread (too few out-of-sample errors yet)"
            note = f"{note}; {extra}" if note else extra
        upper = mean + rel * scale
        return Forecast(
            start_s=end_s,
            step_s=self.bucket_s,
            mean=mean,
            upper=upper,
            quantile=self.quantile,
            method=point.method,
            note=note,
        )

    def _reshape(self, horizon_steps: int) -> None:
        """The horizon changed (first call, or a profile reload with another cold start).
        Rows are scored at the ring's width, so it must match the horizon: a wider ring
        would never store a row again (the extra steps have no forecast, rows with NaN are
        skipped) and calibration would stop for good."""
        if horizon_steps < self._errors.shape[1]:
            # Shorter: the stored errors of the first steps still apply; keep them.
            self._errors = self._errors[:, :horizon_steps].copy()
            return
        # Longer: old rows have no error for the new steps, and a ring with NaN in it would
        # turn the quantile NaN. Calibration starts afresh at the new width.
        self._errors = np.full((self._max_errors, horizon_steps), np.nan, dtype=_ERROR_DTYPE)
        self._next_row = 0

    def _restart_calibration(self) -> None:
        self._errors[:] = np.nan
        self._next_row = 0
        self._pending.clear()

    def _score(self, history: np.ndarray, origin: int) -> None:
        newest = origin - 1
        first = max(self._scored_until + 1, newest - history.size + 1)
        for bucket in range(first, newest + 1):
            actual = history[bucket - newest - 1]
            if not np.isfinite(actual):
                continue
            row = np.full(self._errors.shape[1], np.nan)
            for step in range(row.size):
                made = self._pending.get(bucket - step)
                if made is not None and step < made.shape[1]:
                    row[step] = (actual - made[0, step]) / made[1, step]
            if row.size == 0 or not np.isfinite(row).all():
                continue  # only the first buckets of a model's life; keeps the ring NaN-free
            clipped = np.clip(row, -_MAX_RELATIVE_ERROR, _MAX_RELATIVE_ERROR)
            self._errors[self._next_row % self._max_errors] = clipped
            self._next_row += 1
        self._scored_until = max(self._scored_until, newest)
        horizon = self._errors.shape[1] or 1
        for stale in [o for o in self._pending if o <= newest - horizon]:
            del self._pending[stale]

    def _relative_upper(self, history: np.ndarray, steps: int) -> tuple[np.ndarray, bool]:
        errors = self._errors[: min(self._next_row, self._max_errors), :steps].astype(float)
        counts = np.isfinite(errors).sum(axis=0)
        enough = counts >= MIN_ERRORS
        rel = np.zeros(steps)
        if enough.any():
            # Rows are stored only when complete, so one vectorised call covers every step.
            quant = np.quantile(errors[:, enough], self.quantile, axis=0)
            rel[enough] = np.maximum(quant, 0.0)
        if not enough.all():
            missing = np.flatnonzero(~enough)
            rel[missing] = self._history_spread(history) * np.sqrt(missing + 1)
        return rel, bool(enough.all())

    def _history_spread(self, history: np.ndarray) -> float:
        values = history[np.isfinite(history)]
        z = NormalDist().inv_cdf(self.quantile)
        if values.size < 3:
            return _FALLBACK_FLOOR
        changes = np.diff(values) / np.maximum(values[:-1], self._scale_floor(history))
        return max(_FALLBACK_FLOOR, float(np.std(changes)) * z)

    @staticmethod
    def _scale_floor(history: np.ndarray) -> float:
        """Relative errors need a floor so a near-zero prediction cannot explode them."""
        recent = history[-60:]
        recent = recent[np.isfinite(recent)]
        return max(1e-6, 0.1 * float(recent.mean())) if recent.size else 1e-6
