"""Ensemble: members' means weighted by their recent out-of-sample error at each step.

Weight of member m at horizon step k: w = (1 / MAE_mk) / Σ_j (1 / MAE_jk), with MAE over the
buckets scored in the last `error_window_s`. Worked number: step-1 MAEs 20, 40 and 80 tok/s
-> inverse 0.05, 0.025, 0.0125 -> weights 0.57, 0.29, 0.14. Until every member has
`min_errors` scored buckets at a step, that step weighs members equally and the note says so.
Members are the other kinds (kinds.MEMBER_KINDS, not ensembles); each keeps its own fitted
state and cadence.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from autoscaler.forecast.clean import mask_resets
from autoscaler.forecast.forecast import Forecaster, PointForecast, last_finite
from autoscaler.forecast.kinds import MemberSettings
from autoscaler.forecast.member_errors import MemberErrors
from autoscaler.forecast.settings import ForecastSettingsBase

# Two seasonal models that fail differently (Fourier terms + ARMA; damped ETS) and the naive
# forecast, which wins where the series is close to a random walk. Measured with
# benchmarks/forecast_quality.py: WAPE on ServeGen m-small 0.099 (holt-winters, kalman and
# seasonal-naive together: 0.117), on Azure 2024 code 0.029 / 0.052 at 300 / 600 s (0.036 /
# 0.055): as good as the best single kind on both, where the old trio was on neither.
DEFAULT_MEMBERS = ("sarimax", "holt-winters", "last-value")
# Members see the ensemble's history, so they share its grid. They also take its quantile:
# only the ensemble's upper is ever computed, and a written profile whose members said 0.95
# under an ensemble at 0.9 read as a contradiction.
_INHERITED = ("bucket_s", "history_s", "quantile")


class EnsembleSettings(ForecastSettingsBase):
    kind: Literal["ensemble"] = "ensemble"
    members: list[MemberSettings] = Field(min_length=1, description="forecasters to combine")
    min_errors: int = Field(
        12, ge=1, description="scored buckets per member and step before weights leave equal"
    )

    @model_validator(mode="before")
    @classmethod
    def _members_share_the_grid(cls, data: Any) -> Any:
        """Members default to the ensemble's bucket and history widths."""
        if not isinstance(data, dict):
            return data
        members = data.get("members", [{"kind": kind} for kind in DEFAULT_MEMBERS])
        if isinstance(members, list):
            shared = {key: data[key] for key in _INHERITED if key in data}
            members = [{**shared, **m} if isinstance(m, dict) else m for m in members]
        return {**data, "members": members}

    @model_validator(mode="after")
    def _same_buckets(self) -> EnsembleSettings:
        for i, member in enumerate(self.members):
            if member.bucket_s != self.bucket_s:
                raise ValueError(
                    f"members.{i}.bucket_s ({member.bucket_s:g}) must equal bucket_s"
                    f" ({self.bucket_s:g}): members forecast the ensemble's buckets"
                )
        return self


class EnsembleForecaster:
    def __init__(self, settings: EnsembleSettings) -> None:
        # The registry imports this module, so its builder is imported when first needed.
        from autoscaler.forecast.registry import build_forecaster

        self.settings = settings
        self.members: list[Forecaster] = [build_forecaster(m) for m in settings.members]
        self.names = _names([m.kind for m in settings.members])
        window = int(settings.error_window_s / settings.bucket_s)
        self._errors = MemberErrors(len(self.members), settings.bucket_s, window)

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        origin = int(round(end_s / self.settings.bucket_s))
        # Members see (and are scored against) the history with counter resets masked, so a
        # member that does not mask them itself neither forecasts from nor is blamed for one.
        history = mask_resets(history)
        self._errors.score(history, origin)
        means = np.full((len(self.members), horizon_steps), np.nan)
        notes: list[str] = []
        for i, member in enumerate(self.members):
            try:
                point = member.predict(history, end_s, horizon_steps)
            except Exception as exc:  # one broken member must not take the others down
                notes.append(f"{self.names[i]} failed ({type(exc).__name__}: {exc})")
                continue
            means[i] = np.maximum(np.asarray(point.mean, dtype=float), 0.0)
            if point.note:
                own = point.note.startswith(self.names[i].split("#")[0])
                notes.append(point.note if own else f"{self.names[i]}: {point.note}")
        self._errors.remember(origin, means)
        alive = np.isfinite(means).all(axis=1)
        if not alive.any():
            notes.append("every member failed; holding the last value")
            return PointForecast(
                np.full(horizon_steps, last_finite(history)), "last-value", "; ".join(notes)
            )
        weights, calibrated = self._weights(alive, horizon_steps)
        mean = np.nansum(weights * np.where(alive[:, None], means, 0.0), axis=0)
        notes.insert(0, self._describe(weights, calibrated))
        return PointForecast(mean, "ensemble", "; ".join(notes))

    def _weights(self, alive: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """(members, steps) weights summing to 1 over the live members at each step."""
        mae, counts = self._errors.mean_abs(steps)
        calibrated = (counts[alive] >= self.settings.min_errors).all(axis=0)
        # Floor: a member perfect so far is strongly preferred, not infinitely (and all-zero
        # errors, as on zero traffic, give equal weights instead of dividing by zero).
        live_mae = np.where(alive[:, None], np.nan_to_num(mae, nan=0.0), np.nan)
        floor = 1e-3 * np.nanmean(live_mae, axis=0) + 1e-12
        inverse = 1.0 / np.maximum(np.nan_to_num(mae, nan=np.inf), floor)
        raw = np.where(calibrated[None, :], inverse, 1.0) * alive[:, None]
        return raw / raw.sum(axis=0, keepdims=True), calibrated

    def _describe(self, weights: np.ndarray, calibrated: np.ndarray) -> str:
        def at(step: int) -> str:
            return ", ".join(
                f"{n} {w:.2f}" for n, w in zip(self.names, weights[:, step], strict=True)
            )

        last = weights.shape[1] - 1
        text = f"weights step 1: {at(0)}"
        if last > 0 and not np.allclose(weights[:, 0], weights[:, last]):
            text += f"; step {last + 1}: {at(last)}"
        if not calibrated.all():
            text += f" (equal until {self.settings.min_errors} scored errors per step)"
        return text


def _names(kinds: list[str]) -> list[str]:
    """Kinds, numbered where a kind appears twice: ['kalman#1', 'kalman#2', 'mstl']."""
    return [
        f"{k}#{kinds[: i + 1].count(k)}" if kinds.count(k) > 1 else k for i, k in enumerate(kinds)
    ]
