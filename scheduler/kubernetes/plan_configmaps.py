"""The plan read back from the per-model placement ConfigMaps (manifests.py writes them).

Each ConfigMap `prewarm-placement-<model>` carries the model's share of the plan under
`plan.json`; the shares together are the plan the controller last wrote. Two readers:

- the admission webhook in ConfigMap mode (`configmap_plan_store.py`): the placements it
  injects, computed from the shares by `model_placements`, the very code that rendered
  `placement.json`, so the file mode and the ConfigMap mode cannot disagree;
- a newly elected controller: its predecessor's plan, the `previous_plan` of its first
  reconcile, so what was planned (pods not created yet) stays where it was planned and
  nothing is written again (a fresh plan would move pending replicas and rewrite claims).

A ConfigMap that cannot be read (no `plan.json`: written by an older `prewarm place`; not
JSON; a plan the claims cannot express) is skipped with its problem, and its model reads as
unknown: the webhook leaves its pods alone, the controller plans the model afresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.kubernetes.manifests import MODEL_LABEL, PLAN_KEY
from scheduler.kubernetes.placement import ModelPlacement, model_placements
from scheduler.kubernetes.plan_file import plan_from_json
from scheduler.plan import Assignment, Plan, Unplaced

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class StoredPlan:
    plan: Plan  # the shares merged; `extra["models"]` lists every model with a ConfigMap
    placements: dict[str, ModelPlacement]  # by exact model name
    problems: tuple[str, ...]  # "ConfigMap <ns>/<name>: <why it was skipped>"
    skipped: tuple[str, ...] = ()  # the models of the skipped ConfigMaps, where named


def plan_from_configmaps(configmaps: Iterable[Obj]) -> StoredPlan:
    """In the order given (callers sort by name, so the merged plan is stable)."""
    assignments: list[Assignment] = []
    unplaced: list[Unplaced] = []
    models: list[str] = []
    problems: list[str] = []
    skipped: list[str] = []
    placements: dict[str, ModelPlacement] = {}
    for cm in configmaps:
        meta = cm.get("metadata") or {}
        where = f"ConfigMap {meta.get('namespace', '')}/{meta.get('name', '')}"
        model = (meta.get("annotations") or {}).get(MODEL_LABEL)
        text = (cm.get("data") or {}).get(PLAN_KEY)
        if not model:
            problems.append(f"{where}: no {MODEL_LABEL} annotation")
            continue
        if text is None:
            problems.append(f"{where}: no {PLAN_KEY} (written by an older prewarm?)")
            skipped.append(model)
            continue
        try:
            share = plan_from_json(json.loads(text))
            others = {a.model for a in share.assignments} | {u.model for u in share.unplaced}
            if others - {model}:
                raise ValueError(f"holds other models: {sorted(others - {model})}")
            placement = model_placements(share).get(model)
        except (ValueError, RecursionError) as exc:  # JSON, PlanFileError, PlanError
            problems.append(f"{where}: {PLAN_KEY}: {str(exc)[:300]}")
            skipped.append(model)
            continue
        models.append(model)
        assignments += share.assignments
        unplaced += share.unplaced
        placements[model] = placement or ModelPlacement(model, (), (), ())
    plan = Plan(0, 0, 0.0, 0, tuple(assignments), tuple(unplaced), extra={"models": models})
    return StoredPlan(plan, placements, tuple(problems), tuple(skipped))
