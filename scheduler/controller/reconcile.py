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
from scheduler.running import running_instances


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
    # waited for nodes to be provisioned, now on real ones (counted in `kept` once they run)
    landed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.released or self.moved or self.landed)


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
    before = _before(laid, indexes[0], set(models))
    return ReconcileResult(
        plan=plan,
        at_s=now_s,
        held=False,
        reasons=plan.reasons,
        changes=changes(plan, models, (before, indexes[1]), indexes[0]),
        diff=placement_diff(
            previous_plan, previous_models, plan, models, settings.namespace, indexes
        ),
        gpu_health=unhealthy,
        closed_gpus=closed,
        waste=waste,
    )


def changes(
    plan: Plan,
    models: Sequence[str],
    indexes: tuple[PlanIndex, PlanIndex],
    last: PlanIndex | None = None,
) -> tuple[ModelChange, ...]:
    """Per model, which replicas stay, come, go or move: `indexes` are where they were before
    this turn (`_before`) and where `plan` puts them (`plan_index`); `last`, the last plan's
    index, tells which replicas were waiting for new nodes and now run on real ones."""
    before, after = indexes
    last = last or {}
    unplaced: dict[str, list[str]] = {}
    for u in plan.unplaced:
        unplaced.setdefault(u.model, []).append(u.replica)
    out = []
    for model in models:
        old = before.get(model, {})
        new = after.get(model, {})
        waited = last.get(model, {})
        other = [r for r, p in new.items() if r in old and old[r] != p]
        out.append(
            ModelChange(
                model,
                kept=sum(1 for r, p in new.items() if old.get(r) == p),
                added=tuple(r for r in new if r not in old),
                released=tuple(r for r in old if r not in new),
                moved=tuple(r for r in other if not _pending(old[r])),
                unplaced=tuple(unplaced.get(model, ())),
                landed=tuple(
                    r
                    for r, p in new.items()
                    if r in waited and _pending(waited[r]) and not _pending(p)
                ),
            )
        )
    return tuple(out)


def _before(laid: Inventory, previous: PlanIndex, models: set[str]) -> PlanIndex:
    """Where the replicas were before this turn: what runs (or the last plan placed: `laid`
    has both) with a replica name, and the last plan's replicas waiting for new nodes. After
    a restart (no last plan) the running replicas are the baseline, so they read as kept."""
    out: dict[str, dict[str, set[Where]]] = {}
    nodes = {n.name: n for n in laid.nodes}
    for run in running_instances(laid):
        if run.model in models and run.replica:
            node = nodes[run.gpu[0]]
            start = None if run.profile == WHOLE else run.start
            where: Where = (node.name, node.gpus[run.gpu[1]].uuid, run.profile, start)
            out.setdefault(run.model, {}).setdefault(run.replica, set()).add(where)
    for model, replicas in previous.items():
        for replica, place in replicas.items():
            if model in models and _pending(place) and replica not in out.get(model, {}):
                out.setdefault(model, {})[replica] = set(place)
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
