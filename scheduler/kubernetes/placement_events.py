"""What a reconcile turn tells each model's workload, as Kubernetes Events. Pure.

One Event per model and kind of news, so `kubectl describe` reads like a log of the model's
placement and repeats fold into a count (events.py):
- Normal `Placed`: the replicas added, released, moved, landed (their new nodes exist), the
  plan's reasons about the model (zone fallbacks, the max(now, forecast) it placed), and the
  plan's gap to the lower bound. Only for a model whose placement changed.
- Warning `NotPlaced`: how many replicas could not be placed, and why (the first few).
- Warning `IdleGpus`: DCGM shows the model's GPUs idle while vLLM reports no request.
Worked message: "placed 3 (kept 1; added 2: llama-8b-1, llama-8b-2); plan: 21 GPU(s),
lower bound 21, gap 0; llama-8b: places 3 = max(1 now, 3 forecast at the horizon)".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.controller.reconcile import ModelChange, ReconcileResult

NORMAL, WARNING = "Normal", "Warning"
PLACED, NOT_PLACED, IDLE = "Placed", "NotPlaced", "IdleGpus"
MAX_NAMED = 5  # replicas named per list; the rest counted


@dataclass(frozen=True)
class PlacementEvent:
    model: str
    type: str
    reason: str
    message: str


def _names(replicas: Sequence[str]) -> str:
    shown = ", ".join(replicas[:MAX_NAMED])
    more = len(replicas) - MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _about(model: str, reasons: Sequence[str]) -> list[str]:
    """The plan's reasons that name the model first ("llama-405b replica 1: ...")."""
    return [r for r in reasons if r.startswith((f"{model}:", f"{model} "))]


def placement_events(result: ReconcileResult) -> list[PlacementEvent]:
    if result.held:
        return []
    placed: dict[str, set[str]] = {}
    for a in result.plan.assignments:
        placed.setdefault(a.model, set()).add(a.replica)
    plan = result.plan
    summary = f"plan: {plan.gpus_used} GPU(s), lower bound {plan.lower_bound_gpus}, gap " + (
        f"{result.gap_gpus}"
    )
    out = []
    for change in result.changes:
        model = change.model
        if change.changed:
            parts = _parts(change)
            text = f"placed {len(placed.get(model, ()))} ({'; '.join(parts)}); {summary}"
            notes = _about(model, result.reasons)
            if notes:
                text += "; " + "; ".join(notes)
            out.append(PlacementEvent(model, NORMAL, PLACED, text))
        if change.unplaced:
            why = {u.replica: u.reason for u in plan.unplaced if u.model == model}
            listed = "; ".join(f"{r}: {why.get(r, '')}" for r in change.unplaced[:MAX_NAMED])
            more = len(change.unplaced) - MAX_NAMED
            text = f"{len(change.unplaced)} replica(s) not placed: {listed}" + (
                f"; and {more} more" if more > 0 else ""
            )
            out.append(PlacementEvent(model, WARNING, NOT_PLACED, text))
    for flag in result.waste:
        out.append(PlacementEvent(flag.model, WARNING, IDLE, flag.reason))
    return out


def _parts(change: ModelChange) -> list[str]:
    parts = [f"kept {change.kept}"]
    for label, replicas in (
        ("added", change.added),
        ("released", change.released),
        ("moved", change.moved),
        ("landed", change.landed),
        ("replanned", change.replanned),
    ):
        if replicas:
            parts.append(f"{label} {len(replicas)}: {_names(replicas)}")
    return parts
