"""One ScaledObject being served: its engine and source, besides its latest decision."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from autoscaler.decision import Decision
from autoscaler.engine import ModelEngine
from autoscaler.metrics.source import MetricSource, ModelQuery
from autoscaler.scaler.decision_cell import DecisionCell


@dataclass(eq=False, kw_only=True)
class Tracked(DecisionCell):
    engine: ModelEngine
    source: MetricSource
    last_seen_s: float
    tracked_since_s: float = 0.0  # when this replica started tracking it (seniority)
    # This replica's own latest decision; `decision` is what it answers, which is a more
    # senior replica's when replicas exchange decisions (peers/agreement.py).
    own: Decision | None = None
    task: asyncio.Task[None] | None = None
    # Why the last decision raised ("Type: message"), "" when it worked: its answer is then
    # a hold aging toward invalid, and the reason says so too.
    refresh_error: str = ""
    refresh_failures: int = 0  # refreshes that raised, ever (the metric's counter follows it)

    @property
    def query(self) -> ModelQuery:
        return ModelQuery(self.target.model, self.target.namespace or None)
