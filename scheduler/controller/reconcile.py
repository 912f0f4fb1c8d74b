"""`reconcile(...)`: one turn of the placement controller's loop, with no I/O and time injected.

    previous plan + inventory (watched) + demand (scaler decisions) + DCGM health + settings
        -> ReconcileResult(plan, reasons, gap to the lower bound, per-model changes,
                           the objects to write, GPU health, waste flags)

Steps, and why:
1. DCGM samples become GPU verdicts at `now_s` (health.py); unhealthy GPUs, and throttled ones
   unless the settings say otherwise, are closed: no new replica goes there, and a model that
   shrinks releases its replicas there first. What runs there otherwise stays (moving it is
   the eviction's business, not placement's), and the plan says why each GPU is closed.
2. The last plan is laid over the inventory (overlay.py), so replicas it placed, running or
   not yet, stay where they are.
3. The one pure placement core (`scheduler.place.plan_placement`) plans: running replicas are
   kept, surplus ones released from the highest index, new ones packed (slices) or grouped
   over nodes of one instance type and zone with zone fallbacks (multi-node); running slices
   move only when `allow_defragment` is set and moving frees a GPU. What cannot be placed is
   unplaced with a reason while the rest is placed.
4. The result says what changed per model (kept / added / released / moved), the gap to the
   lower bound, the waste flags, and the diff of objects the I/O layer applies (diff.py).
An inventory the loop could not read (None) holds the last plan: nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scheduler.catalog import WHOLE
from scheduler.controller.diff import (
    PlacementDiff,
    PlanIndex,
    Where,
    placement_diff,
    plan_index,
)
from scheduler.controller.health import DcgmSample, GpuHealth, Health, classify_all
from scheduler.controller.overlay import with_planned
from scheduler.controller.settings import ControllerSettings
from scheduler.controller.waste import ModelActivity, WasteFlag, flag_waste
from scheduler.demand import Demand
from scheduler.inventory import Inventory
from scheduler.packing.problem import NEW_NODE_PREFIX
from scheduler.place import plan_placement
from scheduler.plan import Plan


@dataclass(frozen=True)
class HealthReport:
    """What the loop read from DCGM and vLLM for this turn."""

    samples: tuple[DcgmSample, ...] = ()
    activity: Mapping[str, ModelActivity] = field(default_factory=dict)  # by model


@dataclass(frozen=True)
class ModelChange:
    model: str
    kept: int
    added: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    unplaced: tuple[str, ...] = ()
    # waited for nodes to be provisioned and now has real ones (`kept` too once its pods run)
    landed: tuple[str, ...] = ()
    replanned: tuple[str, ...] = ()  # planned, not running yet, and planned elsewhere now

    @property
    def changed(self) -> bool:
        return bool(self.added or self.released or self.moved or self.landed or self.replanned)


@dataclass(frozen=True)
class ReconcileResult:
    plan: Plan
    at_s: float
    held: bool  # the inventory could not be read: the last plan stands, nothing to write
    reasons: tuple[str, ...]  # the plan's reasons, the controller's first
    changes: tuple[ModelChange, ...]
    diff: PlacementDiff
    gpu_health: Mapping[str, GpuHealth]  # GPUs DCGM does not show healthy, by UUID
    closed_gpus: frozenset[str]
    waste: tuple[WasteFlag, ...]

    @property
    def gap_gpus(self) -> int:
        """GPUs over the lower bound for what was placed (0: proved no plan does better)."""
        return self.plan.gpus_used - self.plan.lower_bound_gpus

    @property
    def gap(self) -> float:
        bound = self.plan.lower_bound_gpus
        return self.gap_gpus / bound if bound else 0.0


def reconcile(
    previous_plan: Plan | None,
    inventory: Inventory | None,
    demand: Demand,
    health: HealthReport | None,
    settings: ControllerSettings,
    now_s: float,
    notes: Sequence[str] = (),
) -> ReconcileResult:
    """`notes`: reasons from upstream (scale_demand.demand_from_scale), put first."""
    health = health or HealthReport()
    verdicts = classify_all(health.samples, now_s, settings.health)
    unhealthy = {u: h for u, h in verdicts.items() if h.state is not Health.HEALTHY}
    models = [m.name for m in demand.models]
    if inventory is None:
        return _held(previous_plan, now_s, unhealthy, settings, notes)
    present = {g.uuid for n in inventory.nodes for g in n.gpus if g.uuid}
    closed = frozenset(
        u for u, h in unhealthy.items() if u in present and h.closed(settings.health)
    )
    reasons = list(notes)
    for uuid in sorted(unhealthy):
        h = unhealthy[uuid]
        if uuid in closed:
            reasons.append(f"{h.describe()}: no new placement; its replicas go first on shrink")
        elif uuid in present:
            reasons.append(f"{h.describe()}: still placed (health.exclude_throttled is off)")
    laid, dropped = with_planned(inventory, previous_plan, models)
    reasons += dropped
    gpus = sum(len(n.gpus) for n in inventory.nodes)
    plan = plan_placement(laid, demand, settings.placement_options(closed, gpus))
    waste = flag_waste(plan, health.activity, now_s, settings.health)
    reasons += [w.reason for w in waste]
    bound = plan.lower_bound_gpus
    gap = plan.gpus_used - bound
    summary = f"{plan.gpus_used} GPU(s) used, lower bound {bound}, gap {gap}"
    reasons.append(summary + (f" ({100 * gap / bound:.1f} %)" if bound else ""))
    previous_models = _models_of(previous_plan)
    plan = replace(
        plan,
        reasons=(*reasons, *plan.reasons),
        extra={**plan.extra, **_extra(models, now_s, unhealthy, closed, waste)},
    )
    indexes = (plan_index(previous_plan), plan_index(plan))
    ran = running_index(inventory, set(models))
    return ReconcileResult(
        plan=plan,
        at_s=now_s,
        held=False,
        reasons=plan.reasons,
        changes=changes(plan, models, ran, *indexes),
        diff=placement_diff(
            previous_plan, previous_models, plan, models, settings.namespace, indexes
        ),
        gpu_health=unhealthy,
        closed_gpus=closed,
        waste=waste,
    )


def changes(
    plan: Plan, models: Sequence[str], ran: PlanIndex, last: PlanIndex, after: PlanIndex
) -> tuple[ModelChange, ...]:
    """Per model, which replicas stay, come, go or move. `ran`: what runs (`running_index` of
    the inventory), `last`: the last plan's index, `after`: this plan's. A replica that runs
    is kept or moved; one only planned so far is kept, landed (its new nodes exist now) or
    replanned (nothing ran there: no pod is disturbed)."""
    unplaced: dict[str, list[str]] = {}
    for u in plan.unplaced:
        unplaced.setdefault(u.model, []).append(u.replica)
    out = []
    for model in models:
        running, planned, new = ran.get(model, {}), last.get(model, {}), after.get(model, {})
        kept, added, moved, landed, replanned = 0, [], [], [], []
        for r, p in new.items():
            was = running.get(r, planned.get(r))
            if r in planned and _pending(planned[r]) and not _pending(p):
                landed.append(r)
            if was is None:
                added.append(r)
            elif was == p:
                kept += 1
            elif r in running:
                moved.append(r)
            elif r not in landed:
                replanned.append(r)
        out.append(
            ModelChange(
                model,
                kept=kept,
                added=tuple(added),
                released=tuple(r for r in {**planned, **running} if r not in new),
                moved=tuple(moved),
                unplaced=tuple(unplaced.get(model, ())),
                landed=tuple(landed),
                replanned=tuple(replanned),
            )
        )
    return tuple(out)


def running_index(inventory: Inventory, models: set[str]) -> PlanIndex:
    """Where the named replicas of `models` run. After a restart (no last plan) this is the
    baseline, so what runs reads as kept."""
    out: dict[str, dict[str, set[Where]]] = {}
    for node in inventory.nodes:
        for gpu in node.gpus:
            if gpu.in_use and gpu.served_model in models and gpu.replica:
                where: Where = (node.name, gpu.uuid, WHOLE, None)
                out.setdefault(gpu.served_model, {}).setdefault(gpu.replica, set()).add(where)
            for m in gpu.mig:
                if m.in_use and m.model in models and m.replica:
                    where = (node.name, gpu.uuid, m.profile, m.start)
                    out.setdefault(m.model, {}).setdefault(m.replica, set()).add(where)
    return {m: {r: frozenset(p) for r, p in rs.items()} for m, rs in out.items()}


def _pending(place: frozenset[Where]) -> bool:
    return all(node.startswith(NEW_NODE_PREFIX) for node, _, _, _ in place)


def _models_of(plan: Plan | None) -> list[str]:
    if plan is None:
        return []
    listed = plan.extra.get("models")
    if isinstance(listed, list):
        return [str(m) for m in listed]
    return list(
        dict.fromkeys([a.model for a in plan.assignments] + [u.model for u in plan.unplaced])
    )


def _extra(
    models: Sequence[str],
    now_s: float,
    unhealthy: Mapping[str, GpuHealth],
    closed: frozenset[str],
    waste: Sequence[WasteFlag],
) -> dict[str, Any]:
    """JSON-ready additions to the plan: `plan_from_json` keeps them in `extra`."""
    return {
        "models": list(models),
        "reconciled_at_s": now_s,
        "gpu_health": {
            u: {"state": h.state.value, "reasons": list(h.reasons), "closed": u in closed}
            for u, h in sorted(unhealthy.items())
        },
        "waste": [{"model": w.model, "replicas": w.replicas, "reason": w.reason} for w in waste],
    }


def _held(
    previous: Plan | None,
    now_s: float,
    unhealthy: Mapping[str, GpuHealth],
    settings: ControllerSettings,
    notes: Sequence[str],
) -> ReconcileResult:
    plan = previous or Plan(0, 0, 0.0, 0, ())
    why = "inventory unreadable: the last plan holds, nothing is written"
    reasons = (why, *notes)
    return ReconcileResult(
        plan=plan,
        at_s=now_s,
        held=True,
        reasons=reasons,
        changes=(),
        diff=PlacementDiff(),
        gpu_health=unhealthy,
        closed_gpus=frozenset(u for u, h in unhealthy.items() if h.closed(settings.health)),
        waste=(),
    )
