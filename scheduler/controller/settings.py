"""The placement controller's settings: per-model placement and the loop's knobs, validated at
the edge like every Prewarm input (unknown keys rejected, every problem at once, each named by
its dotted path).

    placement:
      namespace: llm-serving          # where the claim templates and ConfigMaps go
      allow_defragment: false         # may running slices move to free GPUs?
      exact_max_replicas: 50          # new slice replicas up to which the ILP is tried,
      exact_max_gpus: 256             # on fleets up to this many GPUs,
      exact_time_limit_s: 1.0         # for at most this long
      health: {max_age_s: 120, throttled_fraction: 0.5, idle_engine_active: 0.02}
      models:
        meta-llama/Llama-3.1-8B: {mig_profile: 3g.40gb, gpu_models: [H100-80GB]}
        Qwen/Qwen2.5-7B-Instruct: {memory_gib: 30}
        meta-llama/Llama-3.1-405B: {gpus_per_replica: 8, nodes_per_replica: 2}

A model's entry is `scheduler.demand.ReplicaNeed`, the very model demand.yaml's entries use:
exactly one of `mig_profile`, `memory_gib`, `gpus_per_replica`; `nodes_per_replica` only with
`gpus_per_replica`; `gpu_models` from the catalog. A MIG profile no allowed GPU model has is
refused here, by `check_demand`, not at the first reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from scheduler.demand import Demand, PlacementOptions, ReplicaNeed, check_demand
from scheduler.input_errors import PlacementInputError, Strict, parse

# XIDs NVIDIA's k8s-device-plugin leaves out of its health check: errors an application
# causes (13 graphics exception, 31 MMU fault, 43 reset channel, 45 preemptive cleanup,
# 68 video decoder, 109 context switch timeout), which say nothing about the GPU.
APPLICATION_XIDS = (13, 31, 43, 45, 68, 109)


class HealthSettings(Strict):
    """How DCGM readings turn into GPU health and waste (health.py, waste.py)."""

    max_age_s: float = Field(
        120.0, gt=0, description="older DCGM samples are no evidence either way: ignored"
    )
    application_xids: tuple[int, ...] = Field(
        APPLICATION_XIDS, description="XIDs that do not make a GPU unhealthy"
    )
    throttled_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of the sampling window at a thermal or power limit from which a "
        "GPU counts as pinned there (DCGM_FI_DEV_THERMAL/POWER_VIOLATION rates)",
    )
    exclude_throttled: bool = Field(
        True, description="leave throttled GPUs out of new placements, like unhealthy ones"
    )
    idle_engine_active: float = Field(
        0.02,
        ge=0,
        le=1,
        description="DCGM_FI_PROF_GR_ENGINE_ACTIVE at or below which a model's GPUs are idle",
    )


class ControllerSettings(Strict):
    namespace: str = Field("default", min_length=1, max_length=63)
    allow_defragment: bool = False
    exact_max_replicas: int = Field(
        50, ge=0, description="new slice replicas up to which the ILP is tried"
    )
    exact_max_gpus: int = Field(
        256,
        ge=0,
        description="GPUs in the inventory up to which the ILP is tried: past a few hundred, "
        "building it alone takes 0.1 s a turn and it rarely proves a plan in time "
        "(benchmarks/reconcile.py); the heuristic's gap is reported either way",
    )
    exact_time_limit_s: float = Field(1.0, gt=0)
    health: HealthSettings = HealthSettings()
    models: dict[str, ReplicaNeed] = {}

    def placement_options(
        self, closed_gpus: frozenset[str] = frozenset(), gpus: int = 0
    ) -> PlacementOptions:
        """`gpus`: the inventory's; past `exact_max_gpus` only the heuristic runs."""
        return PlacementOptions(
            allow_defragment=self.allow_defragment,
            exact_max_replicas=self.exact_max_replicas if gpus <= self.exact_max_gpus else 0,
            exact_time_limit_s=self.exact_time_limit_s,
            closed_gpus=closed_gpus,
        )


def settings_from_dict(data: Mapping[str, Any], source: str = "placement") -> ControllerSettings:
    """The settings, or a PlacementInputError listing every problem ("models.<name>.<key>:")."""
    settings = parse(ControllerSettings, data, source)
    problems = check_settings(settings)
    if problems:
        raise PlacementInputError(source, problems)
    return settings


def check_settings(settings: ControllerSettings) -> list[str]:
    """Problems of meaning pydantic cannot see, as "models.<name>.<key>: <problem>": for a
    config that nests `ControllerSettings` (the serve config) to report with its own."""
    problems = (
        ["models: a model name is empty"] if any(not n.strip() for n in settings.models) else []
    )
    for name, need in settings.models.items():
        # check_demand knows what a profile needs; its paths say "models.0", ours the name.
        for problem in check_demand(Demand((need.model_demand(name, 0),))):
            problems.append(problem.replace("models.0.", f"models.{name}.", 1))
    return problems
