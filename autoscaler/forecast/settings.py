"""Settings shared by every forecaster kind; each kind adds its own fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ForecastSettingsBase(BaseModel):
    """Validated at the edge: unknown keys are rejected so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantile: float = Field(0.95, gt=0.5, lt=1.0, description="upper quantile the plan covers")
    bucket_s: float = Field(60.0, gt=0, le=3600, description="history bucket width")
    history_s: float = Field(
        3 * 86400.0, gt=0, description="history kept; daily seasons need two days and more"
    )
    error_window_s: float = Field(
        86400.0, gt=0, description="how far back out-of-sample errors calibrate the quantile"
    )
