"""Settings shared by every forecaster kind; each kind adds its own fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ForecastSettingsBase(BaseModel):
    """Validated at the edge: unknown keys are rejected so a typo never silently does nothing.
    YAML's `.inf` and `.nan` are no durations: `history_s: .inf` was accepted and crashed the
    engine's first bucket count."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    if TYPE_CHECKING:

        @property
        def kind(self) -> str:  # every kind's model declares its tag, a Literal (kinds.py)
            ...

    quantile: float = Field(0.95, gt=0.5, lt=1.0, description="upper quantile the plan covers")
    bucket_s: float = Field(60.0, gt=0, le=3600, description="history bucket width")
    history_s: float = Field(
        3 * 86400.0, gt=0, description="history kept; daily seasons need two days and more"
    )
    error_window_s: float = Field(
        86400.0, gt=0, description="how far back out-of-sample errors calibrate the quantile"
    )


class CoarseFitSettings(ForecastSettingsBase):
    """Kinds that fit on coarse buckets and refit on a slow cadence (sarimax, mstl, kalman)."""

    fit_bucket_s: float = Field(300.0, gt=0, description="history is averaged to this for fits")
    refit_every_s: float = Field(86400.0, gt=0, description="parameter refit cadence")
    season_s: float = Field(86400.0, gt=0, description="main seasonal period")

    @model_validator(mode="after")
    def _whole_buckets(self) -> CoarseFitSettings:
        require_whole_buckets(self.bucket_s, self.fit_bucket_s, self.season_s)
        return self


def require_whole_buckets(bucket_s: float, fit_bucket_s: float, season_s: float) -> None:
    """A coarse bucket must hold whole fine buckets and a season whole coarse buckets, or
    the fit would round them silently (a 1000 s season fitted as 900 s) and the phase of a
    bucket in the day would drift with absolute time."""
    width = max(fit_bucket_s, bucket_s)
    if not whole_multiple(bucket_s, width):
        raise ValueError(
            f"fit_bucket_s ({fit_bucket_s:g}) must be a multiple of bucket_s ({bucket_s:g})"
        )
    if not whole_multiple(width, season_s):
        raise ValueError(f"season_s ({season_s:g}) must be a multiple of fit_bucket_s ({width:g})")


def require_history(settings: ForecastSettingsBase, need_s: float, why: str) -> None:
    """Fail at load rather than fall back forever: a season never seen twice is never used."""
    if settings.history_s < need_s:
        raise ValueError(
            f"history_s ({settings.history_s:.10g}) must be at least {need_s:.10g} {why}"
        )


def whole_multiple(unit: float, total: float) -> bool:
    """`total` is a whole number of `unit`s (within float noise)."""
    ratio = total / unit
    return abs(ratio - round(ratio)) < 1e-9 * max(1.0, ratio)
