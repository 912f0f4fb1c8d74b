"""A cluster for the placement loop's tests against the in-process API server: the recorded
cluster (tests/scheduler_kubernetes/recorded: p5 MIG nodes, a p4d with whole A100s), three
models (a MIG slice, a whole GPU, a 2-node replica), what can be provisioned, and a Prewarm
replica (informers, Lease, loop) built the way `prewarm serve` builds one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from autoscaler.clock import ManualClock
from autoscaler.decision import Decision
from autoscaler.observation import Observation
from autoscaler.scaler.metadata import ScalerTarget
from autoscaler.scaler.tracked import Tracked
from scheduler.controller.scale_demand import ModelScale, demand_from_scale
from scheduler.controller.settings import ControllerSettings
from scheduler.demand import Demand
from scheduler.inventory import Inventory
from scheduler.kubernetes.controller_config import PlacementConfig, placement_config
from scheduler.kubernetes.controller_loop import PlacementLoop
from scheduler.kubernetes.controller_metrics import ControllerMetrics
from scheduler.kubernetes.events import EventRecorder
from scheduler.kubernetes.inventory_watch import InventoryWatch
from scheduler.kubernetes.leader_election import LeaderElector
from scheduler.kubernetes.manifests import PLACEMENT_KEY
from scheduler.kubernetes.plan_configmaps import StoredPlan, plan_from_configmaps
from tests.kube_api_server import ApiServer
from tests.kube_api_server import resources as served
from tests.scheduler_kubernetes.dra_devices import recorded

NS = "llm"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"  # 3g.40gb slices; replica 0 runs (recorded)
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"  # a whole A100; replica 0 runs (recorded)
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"  # 8 H100s on each of 2 nodes
START_S = 1_765_000_000.0
LEASE_S, DEADLINE_S, RETRY_S = 15.0, 10.0, 2.0
RECORDED = {
    served.NODES: "nodes.json",
    served.PODS: "pods.json",
    served.RESOURCE_SLICES: "resourceslices.json",
    served.RESOURCE_CLAIMS: "resourceclaims.json",
}


def p5(zone: str, available: int) -> dict[str, Any]:
    return {
        "name": "p5.48xlarge",
        "zone": zone,
        "gpu_model": "H100-80GB",
        "gpus": 8,
        "price_per_hour": 55.04,
        "available": available,
    }


def config(**extra: Any) -> PlacementConfig:
    """The `placement:` section a serve config would carry."""
    return placement_config(
        {
            "namespace": NS,
            "models": {
                LLAMA_8B: {"mig_profile": "3g.40gb", "gpu_models": ["H100-80GB"]},
                LLAMA_70B: {"gpus_per_replica": 1, "gpu_models": ["A100-40GB"]},
                LLAMA_405B: {
                    "gpus_per_replica": 8,
                    "nodes_per_replica": 2,
                    "gpu_models": ["H100-80GB"],
                },
            },
            "instance_types": [p5("us-east-1a", 4), p5("us-east-1b", 4)],
            **extra,
        }
    )


def seed(server: ApiServer) -> None:
    for resource, name in RECORDED.items():
        server.seed(resource, *recorded(name)["items"])


def tracked(model: str, scaled_object: str, latest: Observation | None = None) -> Tracked:
    """What the registry hands its listeners; the board reads the target and the engine's
    latest observation (vLLM's requests)."""
    target = ScalerTarget(scaled_object, model, NS, None, None)
    return cast(Tracked, _Target(target, _Engine(_Window(latest))))


@dataclass
class _Window:
    latest: Observation | None = None


@dataclass
class _Engine:
    window: _Window = field(default_factory=_Window)


@dataclass
class _Target:
    target: ScalerTarget
    engine: _Engine = field(default_factory=_Engine)
    source: object = None


def decision(now: int, forecast: int, t_s: float = START_S) -> Decision:
    return Decision(t_s, now, "test", forecast_replicas=forecast)


def provisioned_node(name: str, zone: str, gpus: int = 8) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hand-made (shaped like the recorded p4d): a p5.48xlarge Karpenter made, and the
    ResourceSlice NVIDIA's DRA driver publishes for its whole H100s."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": "p5.48xlarge",
                "topology.kubernetes.io/zone": zone,
                "karpenter.k8s.aws/instance-gpu-name": "h100",
                "karpenter.k8s.aws/instance-gpu-count": str(gpus),
            },
        },
        "spec": {"providerID": f"aws:///{zone}/i-{zlib.crc32(name.encode()):012x}"},
    }
    tag = f"{zlib.crc32(name.encode()):08x}"
    devices = [
        {
            "name": f"gpu-{i}",
            "attributes": {
                "type": {"string": "gpu"},
                "uuid": {"string": f"GPU-{tag}-{i:04d}-4000-8000-000000000000"},
                "productName": {"string": "NVIDIA H100 80GB HBM3"},
            },
            "capacity": {"memory": {"value": "80Gi"}},
        }
        for i in range(gpus)
    ]
    slice_ = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{name}-gpu.nvidia.com-a1b2c"},
        "spec": {
            "driver": "gpu.nvidia.com",
            "nodeName": name,
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }
    return node, slice_


def stored(server: ApiServer, resource: served.Resource) -> list[dict[str, Any]]:
    objects = [
        obj
        for (plural, namespace, _), obj in server.store.objects.items()
        if plural == resource.plural and namespace == NS
    ]
    return sorted(objects, key=lambda o: o["metadata"]["name"])


def written_plan(server: ApiServer) -> StoredPlan:
    """The plan as the cluster holds it: read back from the ConfigMaps written."""
    found = plan_from_configmaps(stored(server, served.CONFIGMAPS))
    assert not found.problems, found.problems
    return found


def referenced_templates(server: ApiServer) -> set[str]:
    names = set()
    for cm in stored(server, served.CONFIGMAPS):
        placement = json.loads(cm["data"][PLACEMENT_KEY])
        slots = placement["singleNode"] + [s for g in placement["groups"] for s in g]
        names |= {s["resourceClaimTemplateName"] for s in slots}
    return names


def writes(server: ApiServer) -> list[str]:
    """Every write to the objects the controller owns, as "VERB path"."""
    return [
        f"{r.method} {r.path}"
        for r in server.faults.log
        if r.method in ("PATCH", "PUT", "POST", "DELETE")
        and ("/configmaps" in r.path or "/resourceclaimtemplates" in r.path)
    ]


@dataclass
class Replica:
    """One Prewarm pod: its informers, its elector and its loop (no gRPC: the board is fed
    the decisions the registry would publish)."""

    loop: PlacementLoop
    watch: InventoryWatch
    elector: LeaderElector
    metrics: ControllerMetrics
    pokes: list[int] = field(default_factory=list)

    def inventory(self, instance_types: list[dict[str, Any]]) -> Inventory:
        found = self.watch.inventory(instance_types)
        assert found is not None, self.watch.last_error
        return found


def make_replica(
    api: Any,
    identity: str,
    clock: ManualClock,
    cfg: PlacementConfig,
    decisions: Any,
    instance_types: list[dict[str, Any]],
    sleep: Any,
    health: Any = None,
) -> Replica:
    watch = InventoryWatch(api, sleep=sleep)
    elector = LeaderElector(
        api,
        NS,
        cfg.lease.name,
        identity,
        clock,
        lease_duration_s=LEASE_S,
        renew_deadline_s=DEADLINE_S,
        retry_period_s=RETRY_S,
        sleep=sleep,
    )
    metrics = ControllerMetrics()
    loop = PlacementLoop(
        api,
        cfg.controller_settings(),
        clock,
        decisions=decisions,
        inventory=watch,
        elector=elector,
        instance_types=lambda: instance_types,
        health=health,
        metrics=metrics,
        events=EventRecorder(api, clock, instance=identity),
        debounce_s=cfg.debounce_s,
        resync_s=cfg.resync_s,
        sleep=sleep,
    )
    return Replica(loop, watch, elector, metrics)


def demand_of(
    settings: ControllerSettings, scales: Mapping[str, ModelScale], last: Any = None
) -> Demand:
    return demand_from_scale(scales, settings, last)[0]
