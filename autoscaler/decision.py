"""What the planner answers and the little it remembers between answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """Desired replicas for one model at one instant, and why.

    `valid` turns False when the data behind it is older than the staleness bound: the
    replicas still hold, but the gRPC face reports UNAVAILABLE so KEDA's fallback takes over.
    """

    t_s: float
    replicas: int
    reason: str
    valid: bool = True
    forecast_replicas: int = 0
    reactive_replicas: int = 0
    data_age_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PlannerState:
    """The planner's memory: last answer and the raw recommendations inside the delay window."""

    replicas: int
    recent: tuple[tuple[float, int], ...] = ()  # (t_s, raw recommendation), oldest first


@dataclass(frozen=True, slots=True, order=True)
class PastAnswer:
    """What Prewarm answered for a ScaledObject at one past instant, read back after a restart
    (autoscaler/metrics/decision_history.py)."""

    t_s: float
    replicas: int  # the answer KEDA got
    recommended: int  # the recommendation behind it, as far as it was honoured (the hold)
