"""A MetricSource read straight from an emulated fleet: `prewarm serve --demo` needs no
Prometheus. It answers what a Prometheus source would over the emulator's /metrics (same
rates per wall second, same gauges), without the scrape and query round trip."""

from __future__ import annotations

import asyncio

from autoscaler.metrics.source import ModelQuery
from autoscaler.observation import Observation
from simulations.emulator.fleet_state import EmulatedFleet


class EmulatorSource:
    """Implements `autoscaler.metrics.source.MetricSource` for one emulated model.

    The namespace in a query is ignored: the emulator has one fleet and no namespaces.
    Catching up on the seconds since the last read is CPU work (~10 us per trace second,
    so 150 ms at speed 1,000 every 15 s): it runs in a worker thread, not on the event loop.
    """

    def __init__(self, fleet: EmulatedFleet) -> None:
        self.fleet = fleet

    async def latest(self, query: ModelQuery, now_s: float) -> Observation | None:
        """The fleet's observation at `now_s`; None for a model the emulator does not serve
        (as Prometheus would have no series for it)."""
        if query.model != self.fleet.model_name:
            return None
        return await asyncio.to_thread(self.fleet.observation, now_s)

    async def history(
        self, query: ModelQuery, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        """Demand as the trace offered it, every `step_s` (see `EmulatedFleet.history`)."""
        if query.model != self.fleet.model_name:
            return []
        return await asyncio.to_thread(self.fleet.history, start_s, end_s, step_s)
