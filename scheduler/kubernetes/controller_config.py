"""The `placement:` section of the serve config: the reconcile core's settings
(`ControllerSettings`: namespace, models, defragmentation, solver limits, DCGM thresholds)
plus what only the running loop needs. Validated like the rest of the serve config:
unknown keys rejected, every problem at once, each named by its dotted path under
`placement.`.

    placement:
      namespace: llm-serving
      models:
        meta-llama/Llama-3.1-8B-Instruct: {mig_profile: 3g.40gb, gpu_models: [H100-80GB]}
        meta-llama/Llama-3.1-405B-Instruct: {gpus_per_replica: 8, nodes_per_replica: 2}
      instance_types:               # what can still be provisioned (the cluster cannot say)
        - {name: p5.48xlarge, zone: us-east-1a, gpu_model: H100-80GB, gpus: 8,
           price_per_hour: 55.04, available: 4}
      lease: {name: prewarm-placement, duration_s: 15}
      debounce_s: 2
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from scheduler.controller.settings import ControllerSettings, check_settings
from scheduler.input_errors import PlacementInputError, Strict, parse
from scheduler.inventory import _InstanceTypeIn as InstanceTypeIn
from scheduler.inventory import inventory_from_dict


class LeaseSettings(Strict):
    """Leader election (leader_election.py): only the holder of this Lease writes."""

    namespace: str | None = Field(
        None, description="where the Lease lives; default: the pod's namespace"
    )
    name: str = Field("prewarm-placement", min_length=1, max_length=253)
    duration_s: float = Field(15.0, gt=0, description="a dead leader is replaced after this")
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LeaseSettings:
        if not self.retry_period_s < self.renew_deadline_s < self.duration_s:
            raise ValueError("need retry_period_s < renew_deadline_s < duration_s")
        return self


class PlacementConfig(ControllerSettings):
    instance_types: list[InstanceTypeIn] = Field(
        default_factory=list,
        description="instance types that can be provisioned, as in `prewarm inventory`'s "
        "file; without them only existing nodes are used",
    )
    lease: LeaseSettings = LeaseSettings()
    debounce_s: float = Field(
        2.0, ge=0, le=60, description="a burst of changes within this makes one reconcile"
    )
    resync_s: float = Field(60.0, gt=0, description="reconcile at least this often")
    events: bool = Field(True, description="Kubernetes Events on each model's workload")
    dcgm: bool = Field(
        True,
        description="read GPU health from dcgm-exporter's series in the serve config's "
        "Prometheus: unhealthy or throttled GPUs get no new replicas and lose theirs first",
    )
    dcgm_window_s: float = Field(
        60.0, gt=0, description="rate window of the thermal/power violation counters"
    )

    def instance_type_dicts(self) -> list[dict[str, Any]]:
        return [t.model_dump() for t in self.instance_types]

    def controller_settings(self) -> ControllerSettings:
        fields = set(ControllerSettings.model_fields)
        return ControllerSettings(**{k: v for k, v in self if k in fields})


def check_placement(config: PlacementConfig) -> list[str]:
    """Problems of meaning, as "<dotted path>: <problem>"."""
    problems = check_settings(config)
    try:
        inventory_from_dict(
            {"nodes": [], "instance_types": config.instance_type_dicts()}, "placement"
        )
    except PlacementInputError as exc:
        problems += list(exc.problems)
    return problems


def placement_problems(data: Any) -> list[str]:
    """Every problem of a raw `placement:` section ([] when valid), each path under it."""
    try:
        config = parse(PlacementConfig, data, "placement")
    except PlacementInputError as exc:
        return list(exc.problems)
    return check_placement(config)


def placement_config(data: Any) -> PlacementConfig:
    config = parse(PlacementConfig, data, "placement")
    problems = check_placement(config)
    if problems:
        raise PlacementInputError("placement", problems)
    return config
