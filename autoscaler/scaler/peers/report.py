"""What one replica tells the others: its own decisions, on `GET /peers/decisions`.

A report is keyed by the whole ScaledObject target (name, model, namespace, profile,
Prometheus address), so two replicas agree only about targets KEDA described the same way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from autoscaler.scaler.metadata import ScalerTarget
from autoscaler.scaler.peers.agreement import PeerDecision

TargetKey = tuple[str, str, str, str | None, str | None]


def target_key(target: ScalerTarget) -> TargetKey:
    return (
        target.scaled_object,
        target.model,
        target.namespace,
        target.profile,
        target.prometheus_url,
    )


class ReportedDecision(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    target: TargetKey
    tracked_since_s: float
    t_s: float
    replicas: int = Field(ge=0)
    valid: bool
    reason: str = Field(max_length=4096)
    forecast_replicas: int = Field(0, ge=0)
    hold: list[tuple[float, int]] = Field(default_factory=list, max_length=100_000)


class PeerReport(BaseModel):
    """The body of `GET /peers/decisions`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instance: str = Field(min_length=1, max_length=512)
    decisions: list[ReportedDecision]

    def by_target(self) -> dict[TargetKey, PeerDecision]:
        return {
            d.target: PeerDecision(
                instance=self.instance,
                tracked_since_s=d.tracked_since_s,
                t_s=d.t_s,
                replicas=d.replicas,
                valid=d.valid,
                reason=d.reason,
                forecast_replicas=d.forecast_replicas,
                hold=tuple(d.hold),
            )
            for d in self.decisions
        }
