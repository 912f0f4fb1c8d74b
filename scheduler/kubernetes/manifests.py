"""A Plan as Kubernetes objects: ResourceClaimTemplates, one placement ConfigMap per model,
and a kustomization.yaml listing them, so `kubectl apply -k <dir>` applies the plan.

The ConfigMap `prewarm-placement-<model>` holds, under `placement.json`, exactly what the
admission webhook injects into that model's pods (computed by the same `placement.py`):
per pod slot the claim template, and for multi-node replicas the node affinity and
annotations, plus the annotations that belong on the LeaderWorkerSet itself.
"""

from __future__ import annotations

import json
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
        objects.append(placement_configmap(placement, namespace))
    return objects


def placement_configmap(placement: ModelPlacement, namespace: str) -> Obj:
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
        "data": {PLACEMENT_KEY: json.dumps(placement.to_json(), indent=2, sort_keys=True)},
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
