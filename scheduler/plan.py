"""The placement plan: what the packer decided, and the contract the Kubernetes side reads.

`Plan.to_json()` is the shape `prewarm place` writes to plan.json; the manifest renderer and the
admission webhook read `Assignment`s and never re-derive placement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Assignment:
    """One replica (or one node's share of a multi-node replica) on one device.

    `profile` is a MIG profile name ("3g.40gb") or "whole" for a full GPU; `start` is the first
    memory slice of a MIG instance, None for whole GPUs. A multi-node replica has one Assignment
    per GPU, all with the same `replica`, `instance_type` and `zone`. A node that does not exist
    yet (capacity to be provisioned from `instance_types`) has a name starting "new:" and gpu "".
    """

    replica: str
    model: str
    node: str
    gpu: str
    gpu_model: str
    profile: str
    start: int | None
    instance_type: str
    zone: str
    kept: bool = False  # already running here before this plan: not a move


@dataclass(frozen=True)
class Unplaced:
    replica: str
    model: str
    reason: str


@dataclass(frozen=True)
class Plan:
    gpus_used: int
    lower_bound_gpus: int  # GPUs any plan needs for the replicas this one placed
    cost_per_hour: float
    moves: int
    assignments: tuple[Assignment, ...]
    unplaced: tuple[Unplaced, ...] = ()
    reasons: tuple[str, ...] = ()  # human-readable, in order: fallbacks taken, solver used, gap
    # "exact" (proved optimal), "heuristic" (not proved: see the gap in reasons), or "" when
    # no slice replica needed packing (whole-GPU replicas only, or every slice kept as it runs).
    solver: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus_used": self.gpus_used,
            "lower_bound_gpus": self.lower_bound_gpus,
            "cost_per_hour": round(self.cost_per_hour, 4),
            "moves": self.moves,
            "solver": self.solver,
            "assignments": [asdict(a) for a in self.assignments],
            "unplaced": [asdict(u) for u in self.unplaced],
            "reasons": list(self.reasons),
            **self.extra,
        }
