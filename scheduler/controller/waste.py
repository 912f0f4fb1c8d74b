"""Waste: a model that holds GPUs DCGM shows idle while vLLM reports no load.

Both signals must agree, and both must be fresh: idle GPUs with requests in flight are a
decode-bound lull, and no requests on busy GPUs is a metrics gap. The loop fills
`ModelActivity` from what the scaler already reads per model: `GpuSignals.engine_active`
(mean DCGM_FI_PROF_GR_ENGINE_ACTIVE over the GPUs or MIG instances of the model's pods,
joined on namespace and pod) and vLLM's `num_requests_running + num_requests_waiting`.
Worked number: engine active 0.004 (threshold 0.02) on 3 slices, 0 requests -> flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scheduler.controller.settings import HealthSettings
from scheduler.plan import Plan


@dataclass(frozen=True)
class ModelActivity:
    at_s: float
    engine_active: float | None  # 0..1, mean over the devices reporting
    devices_reporting: int  # GPUs or MIG instances exporting engine activity
    requests: float | None  # vLLM running + waiting, summed over the model's pods


@dataclass(frozen=True)
class WasteFlag:
    model: str
    replicas: int  # replicas the plan gives the model
    reason: str


def flag_waste(
    plan: Plan, activity: Mapping[str, ModelActivity], now_s: float, settings: HealthSettings
) -> tuple[WasteFlag, ...]:
    replicas: dict[str, set[str]] = {}
    for a in plan.assignments:
        replicas.setdefault(a.model, set()).add(a.replica)
    flags = []
    for model in sorted(replicas):
        seen = activity.get(model)
        if seen is None or now_s - seen.at_s > settings.max_age_s:
            continue
        if seen.engine_active is None or seen.devices_reporting == 0 or seen.requests is None:
            continue
        if seen.engine_active <= settings.idle_engine_active and seen.requests == 0:
            flags.append(
                WasteFlag(
                    model,
                    len(replicas[model]),
                    f"{model}: {len(replicas[model])} replica(s) hold GPUs DCGM shows idle "
                    f"(engine active {seen.engine_active:.3f} <= {settings.idle_engine_active:g} "
                    f"on {seen.devices_reporting} device(s)) while vLLM reports no request",
                )
            )
    return tuple(flags)
