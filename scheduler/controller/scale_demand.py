"""From the scaler's decisions to the demand the placement core packs.

Each model places max(replicas now, the forecast's replicas at the end of the horizon): slices
and nodes are chosen before the pods exist, so a scale-up finds its claims written, and a
forecast dip does not release what is still serving. Worked number: now 4, forecast 9 -> 9
placed; now 6, forecast 2 -> 6 placed (the scaler shrinks first, the plan follows).

Missing data never shrinks the placement: a model with settings but no decision (the scaler
has not been asked about it yet, or restarted) holds the replicas of the last plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from autoscaler.decision import Decision
from scheduler.controller.settings import ControllerSettings
from scheduler.demand import Demand
from scheduler.input_limits import MAX_DEMAND_REPLICAS
from scheduler.plan import Plan


@dataclass(frozen=True)
class ModelScale:
    replicas_now: int
    replicas_at_horizon: int  # what the forecast asks for at the end of the horizon

    @classmethod
    def from_decision(cls, decision: Decision) -> ModelScale:
        return cls(decision.replicas, decision.forecast_replicas)

    @property
    def to_place(self) -> int:
        return max(0, self.replicas_now, self.replicas_at_horizon)


def planned_replicas(plan: Plan | None) -> dict[str, int]:
    """Replicas per model in a plan, placed or not."""
    if plan is None:
        return {}
    names: dict[str, set[str]] = {}
    for a in plan.assignments:
        names.setdefault(a.model, set()).add(a.replica)
    for u in plan.unplaced:
        names.setdefault(u.model, set()).add(u.replica)
    return {model: len(replicas) for model, replicas in names.items()}


def demand_from_scale(
    scales: Mapping[str, ModelScale],
    settings: ControllerSettings,
    previous: Plan | None = None,
) -> tuple[Demand, tuple[str, ...]]:
    """The demand for every model with placement settings, in settings order, and the reasons
    for what is not simply max(now, forecast)."""
    held = planned_replicas(previous)
    models = []
    reasons = []
    for name, need in settings.models.items():
        scale = scales.get(name)
        if scale is None:
            replicas = held.get(name, 0)
            reasons.append(
                f"{name}: no scaler decision yet; holds the last plan's {replicas} replica(s)"
            )
        else:
            replicas = scale.to_place
            if scale.replicas_at_horizon > scale.replicas_now:
                reasons.append(
                    f"{name}: places {replicas} = max({scale.replicas_now} now, "
                    f"{scale.replicas_at_horizon} forecast at the horizon)"
                )
        if replicas > MAX_DEMAND_REPLICAS:
            reasons.append(f"{name}: {replicas:,} replicas capped at {MAX_DEMAND_REPLICAS:,}")
            replicas = MAX_DEMAND_REPLICAS
        models.append(need.model_demand(name, replicas))
    for name in sorted(set(scales) - set(settings.models)):
        reasons.append(f"{name}: no placement settings; not placed")
    return Demand(tuple(models), settings.allow_defragment), tuple(reasons)
