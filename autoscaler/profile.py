"""A model's profile: what one replica can do, what the SLO is, how to forecast and scale.

Parsed and validated in one place. Unknown keys are rejected and every error names its
field, so an operator's typo (`cold_start: 300` for `cold_start_s`) fails loudly at load.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autoscaler.forecast.holt_winters import HoltWintersSettings
from autoscaler.forecast.memory_limits import memory_problems
from autoscaler.forecast.registry import FORECASTERS, ForecastSettings
from autoscaler.yaml_files import YamlFileError, read_yaml_file

# The profile every command falls back on (an 8B model on one H100), shipped in the package.
BUNDLED_PROFILE = Path(__file__).resolve().parent / "profiles" / "default.yaml"

DEFAULT_FORECAST_KIND = "holt-winters"

# Without `queue_drain_s`, the reactive floor clears the backlog new replicas will find
# within this share of the cold start: 120 s at 300 s. Swept at 30-300 s (demo, ServeGen
# m-small, the Azure 2024 week; the demo also at 60 s and 600 s cold starts): the share buys
# SLO attainment more cheaply than any family's headroom does; the whole cold start (the
# old default) left the demo at 97.49 % for 243 GPU-h where 120 s gives 97.69 % for 247.
DEFAULT_QUEUE_DRAIN_SHARE = 0.4


class _Strict(BaseModel):
    # No profile number means anything when infinite or NaN, and YAML spells them `.inf` and
    # `.nan`: an infinite cold start or up factor would only fail later, inside a decision.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ReplicaCapacity(_Strict):
    """What one replica sustains while meeting the TTFT SLO (from the operator's benchmark)."""

    prompt_tokens_per_s: float = Field(gt=0)
    generation_tokens_per_s: float = Field(gt=0)
    kv_cache_tokens: float = Field(gt=0, description="KV-cache token budget of one replica")
    gpus_per_replica: int = Field(1, ge=1)


class ReplicaBounds(_Strict):
    min: int = Field(1, ge=0)
    max: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReplicaBounds:
        if self.min > self.max:
            raise ValueError(f"replicas.min ({self.min}) is above replicas.max ({self.max})")
        return self


class ScalingRates(_Strict):
    """Per-decision limits. Up is generous (prewarming must not be throttled), down is gentle."""

    max_up_factor: float = Field(4.0, ge=1.0, description="at most x this many replicas per step")
    max_up_replicas: int = Field(4, ge=1, description="...or this many more, whichever is larger")
    max_down_fraction: float = Field(0.25, gt=0, le=1.0, description="shed at most this share")
    scale_down_delay_s: float = Field(120.0, ge=0, description="hold the peak this long")


class Staleness(_Strict):
    hold_after_s: float = Field(90.0, gt=0, description="older data: hold, never scale down")
    error_after_s: float = Field(600.0, gt=0, description="older data: decision invalid")

    @model_validator(mode="after")
    def _ordered(self) -> Staleness:
        if self.error_after_s < self.hold_after_s:
            raise ValueError("staleness.error_after_s must be >= staleness.hold_after_s")
        return self


class TypicalRequest(_Strict):
    """The mean request the operator expects: sizes the queue's work when too few requests
    finish to measure it (see `planner._reactive_floor`)."""

    prompt_tokens: float = Field(2048.0, gt=0)
    output_tokens: float = Field(256.0, gt=0)


class ModelProfile(_Strict):
    model: str = Field(min_length=1)
    capacity: ReplicaCapacity
    ttft_slo_s: float = Field(2.0, gt=0)
    # The SLO as a share: at least this fraction of requests see their first token within
    # ttft_slo_s. `prewarm tune` keeps only profiles whose replay attains it.
    ttft_slo_attainment: float = Field(
        0.99, gt=0, lt=1, description="share of requests whose TTFT must be <= ttft_slo_s"
    )
    # At most two hours: the forecast spans the cold start, and its error ring holds a row
    # per step; a typo of 1e12 s asked for more steps than memory holds.
    cold_start_s: float = Field(
        300.0, ge=0, le=7200, description="replica wanted -> replica serving"
    )
    decision_interval_s: float = Field(15.0, gt=0)
    target_utilisation: float = Field(0.8, gt=0, le=1.0)
    # The forecast's upper peak is a rare case (5 % of horizons at quantile 0.95): it may use
    # part of the headroom the target keeps for the expected peak. See `planner.decide`.
    peak_headroom_share: float = Field(
        0.25,
        ge=0,
        le=1.0,
        description="share of the target's headroom (1 - target_utilisation) the forecast's "
        "upper peak may use: 0 plans it at the target like the mean peak, 0.25 at 0.85 for "
        "a target of 0.8",
    )
    kv_target_utilisation: float = Field(0.85, gt=0, le=1.0)
    queue_drain_s: float | None = Field(
        None,
        gt=0,
        description="the reactive floor adds capacity to clear the queue within this long "
        "(default: 0.4 x the cold start, 120 s at 300 s)",
    )
    typical_request: TypicalRequest = TypicalRequest()
    replicas: ReplicaBounds = ReplicaBounds()
    scaling: ScalingRates = ScalingRates()
    staleness: Staleness = Staleness()
    forecast: ForecastSettings = HoltWintersSettings()

    @model_validator(mode="before")
    @classmethod
    def _default_forecast_kind(cls, data: object) -> object:
        """`forecast: {quantile: 0.9}` means the default kind with that quantile."""
        forecast = data.get("forecast") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(forecast, dict) and "kind" not in forecast:
            data = {**data, "forecast": {"kind": DEFAULT_FORECAST_KIND, **forecast}}
        return data

    @model_validator(mode="after")
    def _decides_within_a_bucket(self) -> ModelProfile:
        # The upper quantile is calibrated on out-of-sample errors, and a bucket is scored
        # only against forecasts made at every bucket before it. Deciding less often than
        # once per bucket skips origins, no bucket is ever scored, and the quantile stays the
        # uncalibrated history-spread fallback for good.
        if self.decision_interval_s > self.forecast.bucket_s:
            raise ValueError(
                f"decision_interval_s ({self.decision_interval_s:g}) is above forecast.bucket_s "
                f"({self.forecast.bucket_s:g}): decide at least once per bucket"
            )
        return self

    @model_validator(mode="after")
    def _bounded_memory(self) -> ModelProfile:
        # Every field can be valid alone and the product still ask for gigabytes (1 s
        # buckets x a 2 h cold start x a day of errors: 2.5 GB): see memory_limits.
        problems = memory_problems(self.forecast, self.horizon_s)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def queue_drain_window_s(self) -> float:
        """`queue_drain_s`, or `DEFAULT_QUEUE_DRAIN_SHARE` of the cold start when unset (at
        least one decision interval). Worked number: 0.4 x 300 s = 120 s."""
        if self.queue_drain_s is not None:
            return self.queue_drain_s
        return max(DEFAULT_QUEUE_DRAIN_SHARE * self.cold_start_s, self.decision_interval_s)

    @property
    def peak_utilisation(self) -> float:
        """The utilisation the forecast's upper peak is planned at: 0.85 at the defaults."""
        return self.target_utilisation + self.peak_headroom_share * (1 - self.target_utilisation)

    @property
    def horizon_s(self) -> float:
        """How far ahead a decision must look: a replica asked for now serves this late."""
        return self.cold_start_s + self.decision_interval_s


class ProfileError(ValueError):
    """A profile file is invalid. The message lists every bad field with its path."""


def parse_profile(data: object, source: str = "<profile>") -> ModelProfile:
    try:
        return ModelProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: invalid profile:\n{format_errors(exc)}") from None


def load_profile(path: str | Path) -> ModelProfile:
    path = Path(path)
    return parse_profile(read_yaml(path, "profile file"), str(path))


def read_yaml(path: Path, what: str) -> object:
    """The YAML document in `path`. Anything an operator's file can be (missing, a folder,
    binary, UTF-16, nested past the parser's recursion, a key given twice, too large) is a
    ProfileError naming the file: a reload must reject it, not crash on it."""
    try:
        return read_yaml_file(path, what)
    except YamlFileError as exc:
        raise ProfileError(str(exc)) from None


def format_errors(exc: ValidationError) -> str:
    """One line per problem: `capacity.prompt_tokens_per_s: Input should be greater than 0`."""
    lines = []
    for err in exc.errors():
        parts = [str(part) for part in err["loc"]]
        # pydantic puts each union's tag in the path (forecast.holt-winters.x, and inside an
        # ensemble forecast.members.0.kalman.x): not file keys.
        if parts and parts[0] == "forecast":
            parts = [parts[0], *(part for part in parts[1:] if part not in FORECASTERS)]
        loc = ".".join(parts) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)
