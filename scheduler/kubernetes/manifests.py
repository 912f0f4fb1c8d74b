"""A Plan as Kubernetes objects: ResourceClaimTemplates, one placement ConfigMap per model,
and a kustomization.yaml listing them, so `kubectl apply -k <dir>` applies the plan.

The ConfigMap `prewarm-placement-<model>` holds, under `placement.json`, exactly what the
admission webhook injects into that model's pods (computed by the same `placement.py`):
per pod slot the claim template, and for multi-node replicas the node affinity and
annotations, plus the annotations that belong on the LeaderWorkerSet itself. Under
`plan.json` it holds the model's share of the plan (its assignments and unplaced replicas,
in plan.json's shape), the source both are computed from: the webhook, watching the
ConfigMaps, rebuilds its placements from it with the code that renders them, and a newly
elected controller reads its predecessor's plan back from it rather than plan anew.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from scheduler.kubernetes.claims import resource_claim_template
from scheduler.kubernetes.dns_names import dns_label, label_value
from scheduler.kubernetes.placement import ModelPlacement, PlanError, model_placements
from scheduler.plan import Plan

MODEL_LABEL = "prewarm.dev/model"
MANAGED_BY = {"app.kubernetes.io/managed-by": "prewarm"}
PLACEMENT_KEY = "placement.json"
PLAN_KEY = "plan.json"
CONFIGMAP_PREFIX = "prewarm-placement-"

Obj = dict[str, Any]


def placement_configmap_name(model: str) -> str:
    return dns_label(CONFIGMAP_PREFIX + dns_label(model))


def render_manifests(plan: Plan, *, namespace: str = "default") -> list[Obj]:
    """Claim templates (shared by models only if names collide, which is an error) then one
    ConfigMap per placed model, in plan order. Raises PlanError for a plan that cannot be
    expressed (unknown GPU model, a replica across zones, two models with one name)."""
    placements = [p for p in model_placements(plan).values() if p.single or p.groups]
    _check_unique_names(placements)
    objects: list[Obj] = []
    for placement in placements:
        labels = {**MANAGED_BY, MODEL_LABEL: label_value(placement.model)}
        annotations = {MODEL_LABEL: placement.model}  # exact: a label value cannot hold "/"
        objects += [
            resource_claim_template(t, namespace, labels, annotations) for t in placement.templates
        ]
    for placement in placements:
        objects.append(placement_configmap(placement, namespace, plan))
    return objects


def model_share(plan: Plan, model: str) -> dict[str, Any]:
    """The model's assignments and unplaced replicas in plan.json's shape (`plan_from_json`
    reads it back). `kept` is left out: it says how this plan came about, not where
    replicas go, and would make two plans placing alike write different ConfigMaps."""
    assignments = [asdict(a) for a in plan.assignments if a.model == model]
    return {
        "gpus_used": 0,
        "lower_bound_gpus": 0,
        "cost_per_hour": 0.0,
        "moves": 0,
        "assignments": [{k: v for k, v in a.items() if k != "kept"} for a in assignments],
        "unplaced": [asdict(u) for u in plan.unplaced if u.model == model],
    }


def placement_configmap(placement: ModelPlacement, namespace: str, plan: Plan | None = None) -> Obj:
    """`plan`: the plan `placement` was computed from; its share of the model goes under
    `plan.json` (without one, only `placement.json` is written)."""
    data = {PLACEMENT_KEY: json.dumps(placement.to_json(), indent=2, sort_keys=True)}
    if plan is not None:
        share = model_share(plan, placement.model)
        data[PLAN_KEY] = json.dumps(share, indent=1, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": placement_configmap_name(placement.model),
            "namespace": namespace,
            "labels": {**MANAGED_BY, MODEL_LABEL: label_value(placement.model)},
            # The exact model name: a label value cannot hold "/".
            "annotations": {MODEL_LABEL: placement.model},
        },
        "data": data,
    }


def _check_unique_names(placements: list[ModelPlacement]) -> None:
    seen: dict[str, str] = {}
    for placement in placements:
        names = [placement_configmap_name(placement.model)] + [t.name for t in placement.templates]
        for name in names:
            other = seen.setdefault(name, placement.model)
            if other != placement.model:
                raise PlanError(
                    f"models {other!r} and {placement.model!r} both map to object name {name!r}"
                )


def file_name(obj: Obj) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def kustomization(files: list[str]) -> Obj:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }


def write_manifests(plan: Plan, out_dir: str | Path, *, namespace: str = "default") -> list[Path]:
    """One YAML file per object plus kustomization.yaml; returns the paths written.

    Files of an earlier plan that this one no longer has are left alone but dropped from
    kustomization.yaml, so `kubectl apply -k --prune` (or a fresh directory) removes them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    names = []
    for obj in render_manifests(plan, namespace=namespace):
        name = file_name(obj)
        path = out / name
        # Wide lines: a CEL expression folded over several lines is valid but hard to read.
        path.write_text(yaml.safe_dump(obj, sort_keys=False, width=4096))
        written.append(path)
        names.append(name)
    path = out / "kustomization.yaml"
    path.write_text(yaml.safe_dump(kustomization(names), sort_keys=False))
    written.append(path)
    return written
