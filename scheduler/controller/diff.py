"""What the I/O layer must write to go from the last plan to this one.

Objects are the ones `prewarm place` renders (scheduler/kubernetes/manifests.py): per model,
its ResourceClaimTemplates and its placement ConfigMap (what the webhook injects). Only models
whose assignments or unplaced replicas changed are rendered again: with 5,000 replicas and 50
changing, the rest costs one tuple comparison per model.

Apply in this order, so that no pod is ever pointed at a template that does not exist:
1. `templates`: server-side apply (a template's name hashes its content: new ones only);
2. `configmaps`: server-side apply (the new content per model);
3. `delete`: templates no changed model refers to any more, and the ConfigMaps of models that
   left the settings. Pods admitted earlier keep the claims made from a deleted template.
A model in the demand with nothing placed (0 replicas, or all unplaced) still gets its
ConfigMap, empty or with the reasons, so the webhook tells "not placed" from "unknown model".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from scheduler.kubernetes.manifests import (
    placement_configmap,
    placement_configmap_name,
    render_manifests,
)
from scheduler.kubernetes.placement import ModelPlacement, model_placements
from scheduler.plan import Assignment, Plan, Unplaced

Obj = dict[str, Any]


@dataclass(frozen=True)
class PlacementDiff:
    templates: tuple[Obj, ...] = ()  # ResourceClaimTemplates to create
    configmaps: tuple[Obj, ...] = ()  # placement ConfigMaps whose content changed
    delete: tuple[tuple[str, str], ...] = ()  # (kind, name), after the two above
    changed_models: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.templates or self.configmaps or self.delete)

    def to_json(self) -> dict[str, Any]:
        return {
            "templates": [o["metadata"]["name"] for o in self.templates],
            "configmaps": [o["metadata"]["name"] for o in self.configmaps],
            "delete": [f"{kind}/{name}" for kind, name in self.delete],
            "changed_models": list(self.changed_models),
        }


ModelKey = tuple[tuple[Assignment, ...], tuple[Unplaced, ...]]


def by_model(plan: Plan | None, models: Sequence[str]) -> dict[str, ModelKey]:
    """Per model, its assignments (without the `kept` flag, which says nothing about where)
    and unplaced replicas, in plan order: two plans place a model alike iff these are equal."""
    out: dict[str, tuple[list[Assignment], list[Unplaced]]] = {m: ([], []) for m in models}
    if plan is not None:
        for a in plan.assignments:
            if a.model in out:
                out[a.model][0].append(replace(a, kept=False) if a.kept else a)
        for u in plan.unplaced:
            if u.model in out:
                out[u.model][1].append(u)
    return {m: (tuple(a), tuple(u)) for m, (a, u) in out.items()}


def placement_diff(
    previous: Plan | None,
    previous_models: Sequence[str],
    plan: Plan,
    models: Sequence[str],
    namespace: str,
) -> PlacementDiff:
    old = by_model(previous, previous_models)
    new = by_model(plan, models)
    templates: dict[str, Obj] = {}
    configmaps: list[Obj] = []
    delete: list[tuple[str, str]] = []
    changed = [m for m in models if m not in old or old[m] != new[m]]
    for model in changed:
        before = _render(model, old.get(model), namespace)
        after = _render(model, new[model], namespace)
        after_templates = {o["metadata"]["name"]: o for o in after if o["kind"] != "ConfigMap"}
        before_templates = {o["metadata"]["name"] for o in before if o["kind"] != "ConfigMap"}
        for name, obj in after_templates.items():
            if name not in before_templates:
                templates[name] = obj
        configmap = next(o for o in after if o["kind"] == "ConfigMap")
        if not any(o == configmap for o in before):
            configmaps.append(configmap)
        delete += [
            ("ResourceClaimTemplate", name)
            for name in sorted(before_templates - set(after_templates))
        ]
    for model in previous_models:
        if model not in new:
            before = _render(model, old[model], namespace)
            delete += [
                ("ResourceClaimTemplate", o["metadata"]["name"])
                for o in before
                if o["kind"] != "ConfigMap"
            ]
            delete.append(("ConfigMap", placement_configmap_name(model)))
    return PlacementDiff(
        tuple(templates.values()), tuple(configmaps), tuple(delete), tuple(changed)
    )


def _render(model: str, key: ModelKey | None, namespace: str) -> list[Obj]:
    """The model's templates, then its ConfigMap ([] for a model the plan never had)."""
    if key is None:
        return []
    assignments, unplaced = key
    plan = Plan(0, 0, 0.0, 0, assignments, unplaced)
    if assignments:
        return render_manifests(plan, namespace=namespace)
    placement = model_placements(plan).get(model) or ModelPlacement(model, (), (), ())
    return [placement_configmap(placement, namespace)]
