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

The pod is read as untrusted JSON. Labels are validated by the API server only after mutating
admission, so any string can arrive as an index; and a part of the pod the patch would touch
that has the wrong JSON type (no real API server sends one) leaves the pod unplaced with a
warning, never a crash or a patch that cannot apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
# Plain ASCII digits, at most nine: no plan has a billion replicas, and int() of a 5,000-digit
# label raises. (str.isdigit() takes "²", which int() refuses; int() takes "١" as 1.)
_INDEX = re.compile(r"[0-9]{1,9}")


class _Malformed(ValueError):
    """A part of the pod the patch would touch has the wrong JSON type."""


@dataclass(frozen=True)
class Mutation:
    patch: tuple[Op, ...] = ()
    warnings: tuple[str, ...] = ()


def opted_in(pod: Mapping[str, Any]) -> bool:
    labels = _map(_map(pod.get("metadata")).get("labels"))
    return labels.get(PLACEMENT_LABEL) == PLACEMENT_ENABLED


def mutate_pod(pod: object, plan: LoadedPlan | None) -> Mutation:
    if not isinstance(pod, dict) or not opted_in(pod):
        return Mutation()
    meta = _map(pod.get("metadata"))
    labels = _map(meta.get("labels"))
    model = _text(_map(meta.get("annotations")).get(MODEL_KEY)) or _text(labels.get(MODEL_KEY))
    if not model:
        return _skip(f"pod opted in but has no {MODEL_KEY} label or annotation")
    if plan is None:
        return _skip(f"no placement plan is loaded; {model} pod not placed")
    placement = plan.find(model)
    if placement is None or not (placement.single or placement.groups):
        why = f" ({placement.unplaced[0]})" if placement and placement.unplaced else ""
        return _skip(f"plan has no placement for model {model}{why}")
    try:
        spec = _get(pod, "spec", dict, "") or {}
        claims = _get(spec, "resourceClaims", list, "/spec") or []
        if any(_map(c).get("name") == CLAIM_NAME for c in claims):
            return Mutation()  # placed already (a reinvocation): nothing to add
        slot, warnings = pick_slot(placement, labels)
        if slot is None:
            return Mutation(warnings=tuple(warnings))
        index, problem = _container_index(pod)
        if index is None:
            return _skip(problem)
        warnings += _conflicts(pod, index, slot)
        return Mutation(tuple(pod_patch(pod, index, slot)), tuple(warnings))
    except _Malformed as exc:
        return _skip(f"{model} pod not placed: {exc}")


def pick_slot(
    placement: ModelPlacement, labels: Mapping[str, object]
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
    """RFC 6902 operations adding the claim, the container's use of it, affinity, annotations.

    `pod.spec.containers[index]` is an object (`_container_index` checked); anything else the
    operations touch is checked here, raising _Malformed rather than writing a patch into a
    value of the wrong type."""
    spec = pod["spec"]
    ops: list[Op] = []
    claim = {"name": CLAIM_NAME, "resourceClaimTemplateName": slot.template}
    ops += _append(_get(spec, "resourceClaims", list, "/spec"), "/spec/resourceClaims", claim)
    container = f"/spec/containers/{index}"
    resources = _get(spec["containers"][index], "resources", dict, container)
    if resources is None:
        ops.append(_add(f"{container}/resources", {"claims": [{"name": CLAIM_NAME}]}))
    else:
        ops += _append(
            _get(resources, "claims", list, f"{container}/resources"),
            f"{container}/resources/claims",
            {"name": CLAIM_NAME},
        )
    affinity = slot.node_affinity()
    if affinity is not None:
        ops += _node_affinity_ops(_get(spec, "affinity", dict, "/spec"), affinity)
    wanted = slot.annotations()
    if not wanted:
        return ops
    meta = _get(pod, "metadata", dict, "") or {}
    if _get(meta, "annotations", dict, "/metadata") is None:
        ops.append(_add("/metadata/annotations", wanted))
    else:
        ops += [_add(f"/metadata/annotations/{_escape(k)}", v) for k, v in wanted.items()]
    return ops


def _node_affinity_ops(existing: dict[str, Any] | None, wanted: dict[str, Any]) -> list[Op]:
    """Adds our terms to whatever the pod has. Required terms are ORed, so our expressions are
    ANDed into each of them; preferred terms are appended."""
    if not existing:
        return [_add("/spec/affinity", {"nodeAffinity": wanted})]
    base = "/spec/affinity/nodeAffinity"
    node = _get(existing, "nodeAffinity", dict, "/spec/affinity")
    if not node:
        return [_add(base, wanted)]
    ops: list[Op] = []
    required_key = "requiredDuringSchedulingIgnoredDuringExecution"
    if required_key in wanted:
        ours = wanted[required_key]["nodeSelectorTerms"][0]["matchExpressions"]
        required = _get(node, required_key, dict, base) or {}
        terms = _get(required, "nodeSelectorTerms", list, f"{base}/{required_key}") or []
        if not terms:
            ops.append(_add(f"{base}/{required_key}", wanted[required_key]))
        for i, term in enumerate(terms):
            term_path = f"{base}/{required_key}/nodeSelectorTerms/{i}"
            if not isinstance(term, dict):
                raise _Malformed(f"{term_path} is not an object")
            for expression in ours:
                current = _get(term, "matchExpressions", list, term_path)
                ops += _append(current, f"{term_path}/matchExpressions", expression)
                term = {**term, "matchExpressions": [expression]}  # exists from now on
    preferred_key = "preferredDuringSchedulingIgnoredDuringExecution"
    preferred = _get(node, preferred_key, list, base)
    for item in wanted.get(preferred_key, []):
        ops += _append(preferred, f"{base}/{preferred_key}", item)
        preferred = preferred or [item]
    return ops


def _conflicts(pod: dict[str, Any], index: int, slot: PodSlot) -> list[str]:
    """Things in the pod that fight the plan: said, not fixed (the pod is the user's)."""
    out = []
    limits = _map(_map(pod["spec"]["containers"][index].get("resources")).get("limits"))
    if GPU_EXTENDED_RESOURCE in limits:
        out.append(_w(f"container also requests {GPU_EXTENDED_RESOURCE}: it gets both"))
    if slot.multi_node:
        selector = _map(pod["spec"].get("nodeSelector"))
        for key, planned in ((INSTANCE_TYPE_LABEL, slot.instance_type), (ZONE_LABEL, slot.zone)):
            if key in selector and planned and selector[key] != planned:
                out.append(_w(f"nodeSelector {key}={selector[key]} but the plan chose {planned}"))
    return out


def _container_index(pod: dict[str, Any]) -> tuple[int | None, str]:
    containers = _get(_get(pod, "spec", dict, "") or {}, "containers", list, "/spec") or []
    if not containers:
        return None, "pod has no containers"
    wanted = _map(_map(pod.get("metadata")).get("annotations")).get(CONTAINER_ANNOTATION)
    if wanted is None:
        index = 0
    else:
        found = [i for i, c in enumerate(containers) if _map(c).get("name") == wanted]
        if not found:
            return None, f"{CONTAINER_ANNOTATION} names container {wanted!r}, which the pod lacks"
        index = found[0]
    if not isinstance(containers[index], dict):
        raise _Malformed(f"/spec/containers/{index} is not an object")
    return index, ""


def _append(current: list[Any] | None, path: str, value: Any) -> list[Op]:
    if current is None:
        return [_add(path, [value])]
    return [_add(f"{path}/-", value)]


def _add(path: str, value: Any) -> Op:
    return {"op": "add", "path": path, "value": value}


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _index(value: object) -> int | None:
    return int(value) if isinstance(value, str) and _INDEX.fullmatch(value) else None


def _map(value: object) -> Mapping[str, Any]:
    """A JSON object read leniently: anything else reads as empty (for what we only read)."""
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """obj[key] where the patch may write into it: missing is None, the wrong type raises."""
    value = obj.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise _Malformed(f"{where}/{key} is not {'an object' if kind is dict else 'a list'}")


def _w(text: str) -> str:
    return f"prewarm: {text}"


def _skip(text: str) -> Mutation:
    return Mutation(warnings=(_w(text),))
