"""What the webhook does to one pod: pick the plan's slot for it and write the JSONPatch. Pure.

Opt-in is by label: `prewarm.dev/placement: enabled`, with the model in the label
`prewarm.dev/model` (label-safe form, "meta-llama-Llama-3.1-8B") or, exactly, in the annotation
of the same name. Prewarm never blocks a pod: anything it cannot do becomes a warning and the
pod goes through unchanged.

Slot choice: a LeaderWorkerSet pod's `group-index` N picks the model's multi-node replica
`<model>-N` and its `worker-index` the node within it (the leader, worker 0, gets the plan's
first node). A StatefulSet pod's `apps.kubernetes.io/pod-index` N picks single-node replica
`<model>-N`. A Deployment's pods have no index: they get the model's `any_slot`, the same
claim template (every single-node pod of a model shares it, placement.py) and no replica name,
since one name on many pods would make `prewarm inventory` read one replica off all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler.kubernetes.placement import (
    CLAIM_NAME,
    INSTANCE_TYPE_LABEL,
    ZONE_LABEL,
    ModelPlacement,
    PodSlot,
)
from scheduler.kubernetes.plan_store import LoadedPlan

PLACEMENT_LABEL = "prewarm.dev/placement"
PLACEMENT_ENABLED = "enabled"
MODEL_KEY = "prewarm.dev/model"  # label (label-safe) or annotation (exact)
CONTAINER_ANNOTATION = "prewarm.dev/container"
LWS_GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
POD_INDEX = "apps.kubernetes.io/pod-index"
GPU_EXTENDED_RESOURCE = "nvidia.com/gpu"

Op = dict[str, Any]


@dataclass(frozen=True)
class Mutation:
    patch: tuple[Op, ...] = ()
    warnings: tuple[str, ...] = ()


def opted_in(pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(PLACEMENT_LABEL) == PLACEMENT_ENABLED


def mutate_pod(pod: dict[str, Any], plan: LoadedPlan | None) -> Mutation:
    if not opted_in(pod):
        return Mutation()
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    model = (meta.get("annotations") or {}).get(MODEL_KEY) or labels.get(MODEL_KEY)
    if not model:
        return _skip(f"pod opted in but has no {MODEL_KEY} label or annotation")
    if plan is None:
        return _skip(f"no placement plan is loaded; {model} pod not placed")
    placement = plan.find(model)
    if placement is None or not (placement.single or placement.groups):
        why = f" ({placement.unplaced[0]})" if placement and placement.unplaced else ""
        return _skip(f"plan has no placement for model {model}{why}")
    spec = pod.get("spec") or {}
    if any(c.get("name") == CLAIM_NAME for c in spec.get("resourceClaims") or []):
        return Mutation()  # placed already (a reinvocation): nothing to add
    slot, warnings = pick_slot(placement, labels)
    if slot is None:
        return Mutation(warnings=tuple(warnings))
    index, problem = _container_index(pod)
    if index is None:
        return _skip(problem)
    warnings += _conflicts(pod, index, slot)
    return Mutation(tuple(pod_patch(pod, index, slot)), tuple(warnings))


def pick_slot(
    placement: ModelPlacement, labels: dict[str, str]
) -> tuple[PodSlot | None, list[str]]:
    group = _index(labels.get(LWS_GROUP_INDEX))
    model = placement.model
    if placement.groups and group is not None:
        if group >= len(placement.groups):
            n = len(placement.groups)
            return None, [_w(f"plan places {n} multi-node replicas of {model}; group {group} not")]
        nodes = placement.groups[group]
        worker = _index(labels.get(LWS_WORKER_INDEX)) or 0
        if worker >= len(nodes):
            return None, [
                _w(f"replica {group} of {model} has {len(nodes)} nodes; no worker {worker}")
            ]
        return nodes[worker], []
    if not placement.single:
        return None, [_w(f"{model} is multi-node: its pods need LeaderWorkerSet index labels")]
    index = _index(labels.get(POD_INDEX))
    index = group if index is None else index
    any_slot = placement.any_slot or placement.single[0]
    if index is None:
        return any_slot, []
    if index >= len(placement.single):
        n = len(placement.single)
        # The shared claim still finds a free planned device; a planned replica's name would
        # be a second pod's.
        return any_slot, [_w(f"pod index {index} is beyond the {n} planned replicas of {model}")]
    return placement.single[index], []


def pod_patch(pod: dict[str, Any], index: int, slot: PodSlot) -> list[Op]:
    """RFC 6902 operations adding the claim, the container's use of it, affinity, annotations."""
    spec = pod["spec"]
    ops: list[Op] = []
    claim = {"name": CLAIM_NAME, "resourceClaimTemplateName": slot.template}
    ops += _append(spec.get("resourceClaims"), "/spec/resourceClaims", claim)
    container = f"/spec/containers/{index}"
    resources = spec["containers"][index].get("resources")
    if resources is None:
        ops.append(_add(f"{container}/resources", {"claims": [{"name": CLAIM_NAME}]}))
    else:
        ops += _append(
            resources.get("claims"), f"{container}/resources/claims", {"name": CLAIM_NAME}
        )
    affinity = slot.node_affinity()
    if affinity is not None:
        ops += _node_affinity_ops(spec.get("affinity"), affinity)
    annotations = (pod.get("metadata") or {}).get("annotations")
    wanted = slot.annotations()
    if annotations is None and wanted:
        ops.append(_add("/metadata/annotations", wanted))
    elif wanted:
        ops += [_add(f"/metadata/annotations/{_escape(k)}", v) for k, v in wanted.items()]
    return ops


def _node_affinity_ops(existing: dict[str, Any] | None, wanted: dict[str, Any]) -> list[Op]:
    """Adds our terms to whatever the pod has. Required terms are ORed, so our expressions are
    ANDed into each of them; preferred terms are appended."""
    if not existing:
        return [_add("/spec/affinity", {"nodeAffinity": wanted})]
    node = existing.get("nodeAffinity")
    base = "/spec/affinity/nodeAffinity"
    if not node:
        return [_add(base, wanted)]
    ops: list[Op] = []
    required_key = "requiredDuringSchedulingIgnoredDuringExecution"
    if required_key in wanted:
        ours = wanted[required_key]["nodeSelectorTerms"][0]["matchExpressions"]
        terms = (node.get(required_key) or {}).get("nodeSelectorTerms") or []
        if not terms:
            ops.append(_add(f"{base}/{required_key}", wanted[required_key]))
        for i, term in enumerate(terms):
            path = f"{base}/{required_key}/nodeSelectorTerms/{i}/matchExpressions"
            for expression in ours:
                ops += _append(term.get("matchExpressions"), path, expression)
                term = {**term, "matchExpressions": [expression]}  # exists from now on
    preferred_key = "preferredDuringSchedulingIgnoredDuringExecution"
    preferred = node.get(preferred_key)
    for item in wanted.get(preferred_key, []):
        ops += _append(preferred, f"{base}/{preferred_key}", item)
        preferred = preferred or [item]
    return ops


def _conflicts(pod: dict[str, Any], index: int, slot: PodSlot) -> list[str]:
    """Things in the pod that fight the plan: said, not fixed (the pod is the user's)."""
    out = []
    limits = ((pod["spec"]["containers"][index].get("resources") or {}).get("limits")) or {}
    if GPU_EXTENDED_RESOURCE in limits:
        out.append(_w(f"container also requests {GPU_EXTENDED_RESOURCE}: it gets both"))
    if slot.multi_node:
        selector = pod["spec"].get("nodeSelector") or {}
        for key, planned in ((INSTANCE_TYPE_LABEL, slot.instance_type), (ZONE_LABEL, slot.zone)):
            if key in selector and planned and selector[key] != planned:
                out.append(_w(f"nodeSelector {key}={selector[key]} but the plan chose {planned}"))
    return out


def _container_index(pod: dict[str, Any]) -> tuple[int | None, str]:
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None, "pod has no containers"
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(CONTAINER_ANNOTATION)
    if wanted is None:
        return 0, ""
    for i, container in enumerate(containers):
        if container.get("name") == wanted:
            return i, ""
    return None, f"{CONTAINER_ANNOTATION} names container {wanted!r}, which the pod lacks"


def _append(current: list[Any] | None, path: str, value: Any) -> list[Op]:
    if current is None:
        return [_add(path, [value])]
    return [_add(f"{path}/-", value)]


def _add(path: str, value: Any) -> Op:
    return {"op": "add", "path": path, "value": value}


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _index(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _w(text: str) -> str:
    return f"prewarm: {text}"


def _skip(text: str) -> Mutation:
    return Mutation(warnings=(_w(text),))
