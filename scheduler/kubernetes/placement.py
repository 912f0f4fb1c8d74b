"""From a Plan to what each vLLM pod of a model must carry: a claim template and, for a
multi-node replica, node affinity and annotations. Pure; shared by the manifest renderer and the
admission webhook, so the files `kubectl apply` sees and the patches pods get cannot disagree.

A pod is one (replica, node) pair of the plan. Its claim asks for the plan's devices: one MIG
profile or whole GPUs of one model, `count` of them, pinned to the GPUs the plan chose (MIG:
`parentUUID`; whole: `uuid`). Pinning is the only lever a claim has: the DRA scheduler takes the
first matching device and cannot be told a start slice.

Which pod gets which slot (see `admission.py`):
- Multi-node replicas: a LeaderWorkerSet pod's group-index and worker-index name the slot. Its
  template asks for its own node's GPUs first, then the other nodes' of its replica.
- Single-node replicas: the pods are interchangeable as far as devices go (a Deployment's carry
  no index at all), so they all share ONE template: per kind of device (GPU model, profile,
  count) a choice pinned to every GPU the plan chose for that kind, in `firstAvailable` order.
  Any pod lands on a free planned device, and a recreated pod takes the one its predecessor
  freed. Merging keeps every planned GPU reachable: a list of one choice per slot would stop
  at the API's 8 alternatives.
- Index N (a StatefulSet pod-index, a LeaderWorkerSet group-index) is replica `<model>-N` in
  every plan (`_by_index`), so a recreated pod rejoins its own replica, whatever the order
  of the inventory the plan was made from.

A ResourceClaimTemplate's spec is immutable, so a template's name hashes all it asks for: a
plan that changes what a template holds writes a new template, never an edit of the old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from scheduler.kubernetes.dns_names import dns_label, short_hash
from scheduler.kubernetes.gpu_catalog import WHOLE, gpu_model, is_mig_profile
from scheduler.plan import Assignment, Plan
from scheduler.running import replica_ordinal

CLAIM_NAME = "prewarm-gpu"  # the pod's spec.resourceClaims[].name the webhook adds
NEW_NODE_PREFIX = "new:"
MAX_ALTERNATIVES = 8  # resource.k8s.io/v1 DeviceRequest.firstAvailable allows at most 8
# GPUs one choice pins: 128 uuids of at most 64 characters (the API's limit for an attribute
# string) keep its CEL selector under the API's 10 KiB; more GPUs of a kind take more choices.
MAX_PINNED_GPUS = 128

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
        # No name for a pod without an index: every such pod would get the same one, and
        # `prewarm inventory` would read one replica back off several.
        out = {REPLICA_ANNOTATION: self.replica} if self.replica else {}
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
    single: tuple[PodSlot, ...]  # single-node replicas; index N is replica <model>-N
    groups: tuple[tuple[PodSlot, ...], ...]  # multi-node replicas: one slot per node, in order
    templates: tuple[ClaimTemplate, ...]
    unplaced: tuple[str, ...] = ()  # the packer's reasons for replicas it could not place
    any_slot: PodSlot | None = None  # for a single-node pod without an index: no replica name

    def workload_annotations(self) -> dict[str, str]:
        """For the LeaderWorkerSet object itself (LWS reads it there, not from pods)."""
        return {LWS_EXCLUSIVE_TOPOLOGY: ZONE_LABEL} if self.groups else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "claimName": CLAIM_NAME,
            "singleNode": [s.to_json() for s in self.single],
            "groups": [[s.to_json() for s in group] for group in self.groups],
            "anySlot": self.any_slot.to_json() if self.any_slot else None,
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
    templates: dict[str, ClaimTemplate] = {}

    def template(alternatives: Sequence[DeviceChoice]) -> str:
        unique = tuple(dict.fromkeys(alternatives))[:MAX_ALTERNATIVES]
        name = template_name(model, unique)
        templates.setdefault(name, ClaimTemplate(name, unique))
        return name

    any_slot = None
    if single:
        shared = template(_merged(s.choice for s in single))
        single = [replace(s, template=shared) for s in single]
        first = templates[shared].alternatives[0]
        any_slot = replace(single[0], replica="", node="", instance_type="", zone="", choice=first)
    groups = [
        tuple(replace(s, template=template([s.choice, *(o.choice for o in g)])) for s in g)
        for g in groups
    ]
    return ModelPlacement(
        model,
        tuple(_by_index(model, single, lambda s: s.replica)),
        tuple(_by_index(model, groups, lambda g: g[0].replica)),
        tuple(templates.values()),
        unplaced,
        any_slot,
    )


T = TypeVar("T")


def _by_index(model: str, items: list[T], replica: Callable[[T], str]) -> list[T]:
    """Position N holds replica `<model>-N` when the plan has it; positions whose replica the
    plan lacks take the other replicas, in plan order. E.g. [m-1, m-0, m-7] -> [m-0, m-1, m-7].
    Plan order alone follows the inventory's node order, which changes between plans."""
    named: dict[int, T] = {}
    rest: list[T] = []
    for item in items:
        n = replica_ordinal(model, replica(item))
        if n is not None and n < len(items) and n not in named:
            named[n] = item
        else:
            rest.append(item)
    others = iter(rest)
    return [named[n] if n in named else next(others) for n in range(len(items))]


def _merged(choices: Iterable[DeviceChoice]) -> list[DeviceChoice]:
    """One choice per kind (GPU model, profile, count), pinned to all its GPUs, in plan order;
    pinned kinds before unpinned ones (new nodes), which would match any device of the kind.
    E.g. 20 3g.40gb slots on 10 H100s -> one choice, parentUUID in [the 10 H100s]."""
    kinds: dict[tuple[str, str, int, bool], set[str]] = {}
    for c in choices:
        kinds.setdefault((c.gpu_model, c.profile, c.count, not c.gpus), set()).update(c.gpus)
    out = []
    for (gpu, profile, count, unpinned), found in sorted(kinds.items(), key=lambda kv: kv[0][3]):
        if unpinned:
            out.append(DeviceChoice(gpu, profile, count, ()))
        uuids = sorted(found)
        for k in range(0, len(uuids), MAX_PINNED_GPUS):
            out.append(DeviceChoice(gpu, profile, count, tuple(uuids[k : k + MAX_PINNED_GPUS])))
    return out


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
        template="",  # set once the model's templates are known
        choice=choice,
        multi_node=multi,
    )


def template_name(model: str, alternatives: tuple[DeviceChoice, ...]) -> str:
    """ "prewarm-<model>-<gpu>-<profile>[-x<count>]-<hash | any>", <= 63 chars, named after
    the first choice. The hash covers every choice (its pinned GPUs included): templates are
    immutable, so what one asks for must never change under the same name. "any": one choice,
    nothing pinned (new nodes)."""
    first = alternatives[0]
    count = f"-x{first.count}" if first.count > 1 else ""
    if len(alternatives) == 1 and not first.gpus:
        pin = "-any"
    else:
        text = ";".join(
            f"{c.gpu_model}/{c.profile}/{c.count}/{','.join(c.gpus)}" for c in alternatives
        )
        pin = "-" + short_hash(text)
    tail = dns_label(f"{first.gpu_model}-{first.profile}") + count + pin
    model_part = dns_label(model, max(12, 62 - len("prewarm-") - len(tail)))
    return dns_label(f"prewarm-{model_part}-{tail}")
