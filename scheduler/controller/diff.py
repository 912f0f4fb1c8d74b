"""What the I/O layer must write to go from the last plan to this one.

Objects are the ones `prewarm place` renders (scheduler/kubernetes/manifests.py): per model,
its ResourceClaimTemplates and its placement ConfigMap (what the webhook injects). Only models
whose assignments or unplaced replicas changed are rendered again: with 5,000 replicas and 50
changing, the rest costs one tuple comparison per model.

Apply in this order, so that no pod is ever pointed at a template that does not exist:
1. `templates`: server-side apply (a template's name hashes its content: new ones only);
2. `configmaps`: server-side apply (the new content per changed model; one whose replicas
   only changed start slice on the same GPUs may be written unchanged: a no-op apply);
3. `delete`: templates no changed model refers to any more, and the ConfigMaps of models that
   left the settings. Pods admitted earlier keep the claims made from a deleted template.
A model in the demand with nothing placed (0 replicas, or all unplaced) still gets its
ConfigMap, empty or with the reasons, so the webhook tells "not placed" from "unknown model".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.kubernetes.manifests import (
    placement_configmap,
    placement_configmap_name,
    render_manifests,
)
from scheduler.kubernetes.placement import ModelPlacement, model_placements
from scheduler.packing.problem import NEW_NODE_PREFIX
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


Where = tuple[str, str, str, int | None]  # (node, gpu uuid, profile, start)
PlanIndex = dict[str, dict[str, frozenset[Where]]]  # model -> replica -> its GPUs


def where(a: Assignment) -> Where:
    """Where an assignment puts a replica's share. On a node still to be provisioned, without
    the node's number and the start slice: such nodes are planned anew every turn
    ("new:p5.48xlarge:us-east-1a:5" may come back as ":4"), and what the webhook and Karpenter
    act on (instance type, zone, profile) is the same, so a replica waiting for one has not
    moved."""
    if a.node.startswith(NEW_NODE_PREFIX):
        return (f"{NEW_NODE_PREFIX}{a.instance_type}:{a.zone}", a.gpu, a.profile, None)
    return (a.node, a.gpu, a.profile, a.start)


def plan_index(plan: Plan | None) -> PlanIndex:
    """Per model, per replica, where it is: two plans place a replica alike iff these are
    equal (plan order differs between a plan from scratch and one that keeps running
    replicas, and means nothing)."""
    parts: dict[str, dict[str, set[Where]]] = {}
    for a in plan.assignments if plan else ():
        parts.setdefault(a.model, {}).setdefault(a.replica, set()).add(where(a))
    return {m: {r: frozenset(p) for r, p in rs.items()} for m, rs in parts.items()}


def _unplaced(plan: Plan | None) -> dict[str, tuple[Unplaced, ...]]:
    out: dict[str, list[Unplaced]] = {}
    for u in plan.unplaced if plan else ():
        out.setdefault(u.model, []).append(u)
    return {m: tuple(us) for m, us in out.items()}


def placement_diff(
    previous: Plan | None,
    previous_models: Sequence[str],
    plan: Plan,
    models: Sequence[str],
    namespace: str,
    indexes: tuple[PlanIndex, PlanIndex] | None = None,
) -> PlacementDiff:
    """`indexes`: `plan_index` of `previous` and `plan`, when the caller has them already."""
    old_index, new_index = indexes or (plan_index(previous), plan_index(plan))
    old_unplaced, new_unplaced = _unplaced(previous), _unplaced(plan)
    known = set(previous_models)
    changed = [
        m
        for m in models
        if m not in known
        or old_index.get(m, {}) != new_index.get(m, {})
        or old_unplaced.get(m, ()) != new_unplaced.get(m, ())
    ]
    gone = [m for m in previous_models if m not in set(models)]
    old_parts = _parts(previous, set(changed) | set(gone))
    new_parts = _parts(plan, set(changed))
    templates: dict[str, Obj] = {}
    configmaps: list[Obj] = []
    delete: list[tuple[str, str]] = []
    for model in changed:
        before = _template_names(model, old_parts.get(model))
        after = _render(model, new_parts.get(model, ((), ())), namespace)
        configmaps.append(after.pop())
        after_templates = {o["metadata"]["name"]: o for o in after}
        for name, obj in after_templates.items():
            if name not in before:
                templates[name] = obj
        delete += [("ResourceClaimTemplate", n) for n in sorted(before - set(after_templates))]
    for model in gone:
        before = _template_names(model, old_parts.get(model))
        delete += [("ResourceClaimTemplate", name) for name in sorted(before)]
        delete.append(("ConfigMap", placement_configmap_name(model)))
    return PlacementDiff(
        tuple(templates.values()), tuple(configmaps), tuple(delete), tuple(changed)
    )


Parts = tuple[tuple[Assignment, ...], tuple[Unplaced, ...]]


def _parts(plan: Plan | None, models: set[str]) -> dict[str, Parts]:
    """The assignments and unplaced replicas of `models`, in plan order."""
    assignments: dict[str, list[Assignment]] = {}
    unplaced: dict[str, list[Unplaced]] = {}
    for a in plan.assignments if plan else ():
        if a.model in models:
            assignments.setdefault(a.model, []).append(a)
    for u in plan.unplaced if plan else ():
        if u.model in models:
            unplaced.setdefault(u.model, []).append(u)
    return {
        m: (tuple(assignments.get(m, ())), tuple(unplaced.get(m, ())))
        for m in set(assignments) | set(unplaced)
    }


def _template_names(model: str, parts: Parts | None) -> set[str]:
    """The model's template names in a plan, without rendering them or its ConfigMap: a model
    whose assignments changed gets its ConfigMap written whatever the old one held."""
    if parts is None or not parts[0]:
        return set()
    placement = model_placements(Plan(0, 0, 0.0, 0, parts[0], parts[1])).get(model)
    return {t.name for t in placement.templates} if placement else set()


def _render(model: str, parts: Parts, namespace: str) -> list[Obj]:
    """The model's templates, then its ConfigMap."""
    assignments, unplaced = parts
    plan = Plan(0, 0, 0.0, 0, assignments, unplaced)
    if assignments:
        return render_manifests(plan, namespace=namespace)
    placement = model_placements(plan).get(model) or ModelPlacement(model, (), (), ())
    return [placement_configmap(placement, namespace, plan)]
