"""From a Plan to what each vLLM pod of a model must carry: a claim template and, for a
multi-node replica, node affinity and annotations. Pure; shared by the manifest renderer and the
admission webhook, so the files `kubectl apply` sees and the patches pods get cannot disagree.

A pod is one (replica, node) pair of the plan. Its claim asks for the plan's devices on that
node: one MIG profile or whole GPUs of one model, `count` of them, pinned to the GPUs the plan
chose (MIG: `parentUUID`; whole: `uuid`). Pinning is the only lever a claim has: the DRA
scheduler takes the first matching device and cannot be told a start slice.

Which pod gets which slot: a LeaderWorkerSet pod's group-index and worker-index name it exactly
(see `admission.py`). Pods of a Deployment are interchangeable and carry no index, so every
template of a model lists the model's other planned choices as ordered `firstAvailable`
alternatives (its own first): a pod lands on a free planned slot whichever template it got, and
a recreated pod takes the slot its predecessor freed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scheduler.kubernetes.dns_names import dns_label, short_hash
from scheduler.kubernetes.gpu_catalog import WHOLE, gpu_model, is_mig_profile
from scheduler.plan import Assignment, Plan

CLAIM_NAME = "prewarm-gpu"  # the pod's spec.resourceClaims[].name the webhook adds
NEW_NODE_PREFIX = "new:"
MAX_ALTERNATIVES = 8  # resource.k8s.io/v1 DeviceRequest.firstAvailable allows at most 8

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
KARPENTER_GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
KARPENTER_GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
LWS_EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
KUEUE_REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
KUEUE_GROUP_NAME = "kueue.x-k8s.io/podset-group-name"
REPLICA_ANNOTATION = "prewarm.dev/replica"  # which planned replica a pod was given


class PlanError(ValueError):
    """The plan cannot be turned into claims (a contract the packer broke)."""


@dataclass(frozen=True)
class DeviceChoice:
    """What one pod's claim asks for."""

    gpu_model: str  # catalog name, "H100-80GB"
    profile: str  # MIG profile or "whole"
    count: int
    gpus: tuple[str, ...]  # pinned GPU uuids (MIG: the parents), sorted; () = any (new node)

    @property
    def is_mig(self) -> bool:
        return self.profile != WHOLE


@dataclass(frozen=True)
class ClaimTemplate:
    name: str
    alternatives: tuple[DeviceChoice, ...]  # its own choice first


@dataclass(frozen=True)
class PodSlot:
    model: str
    replica: str
    node: str
    instance_type: str
    zone: str
    template: str  # ResourceClaimTemplate name
    choice: DeviceChoice
    multi_node: bool

    def node_affinity(self) -> dict[str, Any] | None:
        """Multi-node replicas: every node of one replica in one zone on one instance type.

        Instance type and zone are well-known labels every cloud node has: required. The
        Karpenter labels exist only on nodes Karpenter made, so requiring them would strand the
        pod on existing nodes; as a preference they still steer what Karpenter provisions (it
        tries preferences as requirements first and relaxes them only if nothing fits).
        """
        if not self.multi_node:
            return None
        required = [
            {"key": key, "operator": "In", "values": [value]}
            for key, value in ((INSTANCE_TYPE_LABEL, self.instance_type), (ZONE_LABEL, self.zone))
            if value
        ]
        gpus_per_node = self.choice.count if not self.choice.is_mig else 1
        preferred = [
            {
                "key": KARPENTER_GPU_NAME,
                "operator": "In",
                "values": [gpu_model(self.choice.gpu_model).karpenter_gpu_name],
            },
            # Gt n-1: an instance with at least the GPUs this pod takes.
            {"key": KARPENTER_GPU_COUNT, "operator": "Gt", "values": [str(gpus_per_node - 1)]},
        ]
        affinity: dict[str, Any] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": preferred}}
            ]
        }
        if required:
            affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
                "nodeSelectorTerms": [{"matchExpressions": required}]
            }
        return affinity

    def annotations(self) -> dict[str, str]:
        out = {REPLICA_ANNOTATION: self.replica}
        if self.multi_node:
            out[KUEUE_REQUIRED_TOPOLOGY] = ZONE_LABEL
            out[KUEUE_GROUP_NAME] = dns_label(f"{self.model}-{self.replica}")
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "replica": self.replica,
            "node": self.node,
            "resourceClaimTemplateName": self.template,
            "annotations": self.annotations(),
        }
        affinity = self.node_affinity()
        if affinity is not None:
            out["affinity"] = {"nodeAffinity": affinity}
        return out


@dataclass(frozen=True)
class ModelPlacement:
    model: str
    single: tuple[PodSlot, ...]  # single-node replicas, plan order
    groups: tuple[tuple[PodSlot, ...], ...]  # multi-node replicas: one slot per node, in order
    templates: tuple[ClaimTemplate, ...]
    unplaced: tuple[str, ...] = ()  # the packer's reasons for replicas it could not place

    def workload_annotations(self) -> dict[str, str]:
        """For the LeaderWorkerSet object itself (LWS reads it there, not from pods)."""
        return {LWS_EXCLUSIVE_TOPOLOGY: ZONE_LABEL} if self.groups else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "claimName": CLAIM_NAME,
            "singleNode": [s.to_json() for s in self.single],
            "groups": [[s.to_json() for s in group] for group in self.groups],
            "workloadAnnotations": self.workload_annotations(),
            "unplaced": list(self.unplaced),
        }


def model_placements(plan: Plan) -> dict[str, ModelPlacement]:
    """Every model of the plan (placed or not), by model name, in plan order."""
    by_model: dict[str, list[Assignment]] = {}
    for a in plan.assignments:
        by_model.setdefault(a.model, []).append(a)
    for u in plan.unplaced:
        by_model.setdefault(u.model, [])
    out = {}
    for model, assignments in by_model.items():
        reasons = tuple(f"{u.replica}: {u.reason}" for u in plan.unplaced if u.model == model)
        out[model] = _model_placement(model, assignments, reasons)
    return out


def _model_placement(
    model: str, assignments: list[Assignment], unplaced: tuple[str, ...]
) -> ModelPlacement:
    replicas: dict[str, dict[str, list[Assignment]]] = {}
    for a in assignments:
        _check(a)
        replicas.setdefault(a.replica, {}).setdefault(a.node, []).append(a)
    single: list[PodSlot] = []
    groups: list[tuple[PodSlot, ...]] = []
    for replica, nodes in replicas.items():
        multi = len(nodes) > 1
        if multi:
            shapes = {(a.instance_type, a.zone) for share in nodes.values() for a in share}
            if len(shapes) > 1:
                raise PlanError(
                    f"replica {replica!r} of {model!r} spans instance types/zones "
                    f"{sorted(shapes)}: one replica must be one instance type in one zone"
                )
        slots = tuple(_slot(model, replica, share, multi) for share in nodes.values())
        if multi:
            groups.append(slots)
        else:
            single.extend(slots)
    pools = [tuple(s.choice for s in single), *(tuple(s.choice for s in g) for g in groups)]
    templates = {
        slot.template: ClaimTemplate(slot.template, _alternatives(slot.choice, pools))
        for slot in (*single, *(s for g in groups for s in g))
    }
    return ModelPlacement(model, tuple(single), tuple(groups), tuple(templates.values()), unplaced)


def _check(a: Assignment) -> None:
    gpu_model(a.gpu_model)  # raises UnknownGpuModel (a PlanError's cousin: ValueError)
    if a.profile != WHOLE and not is_mig_profile(a.profile):
        raise PlanError(f"replica {a.replica!r}: profile {a.profile!r} is not MIG nor 'whole'")


def _slot(model: str, replica: str, share: list[Assignment], multi: bool) -> PodSlot:
    first = share[0]
    kinds = {(a.gpu_model, a.profile) for a in share}
    if len(kinds) > 1:
        raise PlanError(
            f"replica {replica!r} on node {first.node!r} mixes {sorted(kinds)}: "
            "a pod's claim asks for one kind of device"
        )
    new_node = first.node.startswith(NEW_NODE_PREFIX) or any(not a.gpu for a in share)
    choice = DeviceChoice(
        gpu_model=first.gpu_model,
        profile=first.profile,
        count=len(share),
        gpus=() if new_node else tuple(sorted(a.gpu for a in share)),
    )
    return PodSlot(
        model=model,
        replica=replica,
        node=first.node,
        instance_type=first.instance_type,
        zone=first.zone,
        template=template_name(model, choice),
        choice=choice,
        multi_node=multi,
    )


def _alternatives(
    own: DeviceChoice, pools: Iterable[tuple[DeviceChoice, ...]]
) -> tuple[DeviceChoice, ...]:
    """Own choice first, then the other choices of every pool it is in, plan order, deduped."""
    out = [own]
    for pool in pools:
        if own in pool:
            out.extend(c for c in pool if c not in out)
    return tuple(out[:MAX_ALTERNATIVES])


def template_name(model: str, choice: DeviceChoice) -> str:
    """ "prewarm-<model>-<gpu>-<profile>[-x<count>]-<hash of pinned GPUs | any>", <= 63 chars."""
    count = f"-x{choice.count}" if choice.count > 1 else ""
    pin = "-" + short_hash(",".join(choice.gpus)) if choice.gpus else "-any"
    tail = dns_label(f"{choice.gpu_model}-{choice.profile}") + count + pin
    model_part = dns_label(model, max(12, 62 - len("prewarm-") - len(tail)))
    return dns_label(f"prewarm-{model_part}-{tail}")
