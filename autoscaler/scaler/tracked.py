"""One ScaledObject being served: its engine, its latest decision, who waits on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from autoscaler.decision import Decision
from autoscaler.engine import ModelEngine
from autoscaler.metrics.source import MetricSource, ModelQuery
from autoscaler.scaler.metadata import ScalerTarget


@dataclass(eq=False)
class Tracked:
    target: ScalerTarget
    engine: ModelEngine
    source: MetricSource
    last_seen_s: float
    decision: Decision | None = None
    last_error: str = ""
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def query(self) -> ModelQuery:
        return ModelQuery(self.target.model, self.target.namespace or None)

    @property
    def active(self) -> bool:
        """Replicas wanted now, or within the cold-start horizon (forecast-driven wake-up)."""
        d = self.decision
        return d is not None and (d.replicas > 0 or d.forecast_replicas > 0)

    async def publish(self, decision: Decision) -> None:
        async with self._changed:
            self.decision = decision
            self._changed.notify_all()

    async def wait_change(self) -> None:
        async with self._changed:
            await self._changed.wait()
