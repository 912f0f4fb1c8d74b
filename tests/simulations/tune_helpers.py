"""Pieces the tune-by-replay tests share: the short rate trace as a SweepTrace, the bundled
profile, and a fake replay whose numbers follow the profile in a known way."""

from __future__ import annotations

from pathlib import Path

from autoscaler.profile import ModelProfile, parse_profile
from simulations.sweep.plan import SweepTrace, load_traces
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef
from tests.simulations.sweep_helpers import base_profile, write_rate_trace

__all__ = ["base_profile", "fake_replay", "short_trace", "write_rate_trace"]


def short_trace(directory: Path) -> SweepTrace:
    """Four hours of the demo's shape, one hour of warm-up."""
    path = write_rate_trace(directory)
    return load_traces([TraceRef(str(path), "rate", 0)], warmup_s=3600.0)[0]


def fake_replay(task: SweepTask) -> PointResult:
    """Cheaper and worse as target_utilisation rises and the quantile falls: GPU-hours =
    100 x (1 - u) + 50 x q, attainment = 1.3 - 0.5 x u + 0.2 x (q - 0.9) - 0.05 x
    (kind != holt-winters). So the cheapest candidates miss a 0.99 target."""
    profile: ModelProfile = parse_profile(task.profile)
    u, q = profile.target_utilisation, profile.forecast.quantile
    penalty = 0.0 if profile.forecast.kind == "holt-winters" else 0.05
    slo = min(1.0, 1.3 - 0.5 * u + 0.2 * (q - 0.9) - penalty)
    return PointResult(
        metrics={"gpu_hours": 100 * (1 - u) + 50 * q, "slo_attainment": slo}, requests=1
    )


def with_target(profile: ModelProfile, target: float) -> ModelProfile:
    return parse_profile({**profile.model_dump(mode="json"), "ttft_slo_attainment": target})
