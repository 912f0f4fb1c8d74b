"""Forecaster refits for every tracked model, in worker processes, on a slow cadence.

The scaler's engines are built with inline refits off, so a decision never runs a
statsmodels fit on the decision thread (a sarimax fit is a second of Python holding the
GIL the RPC loop needs). Instead, every `every_s` this loop asks each engine which
forecaster parts are due (`ModelEngine.refit_jobs`, on the decision thread, where engines
are touched), fits them in the pool's worker processes, and installs the new parameters
back on the decision thread. Between refits forecasters only advance their state, O(1)
per bucket. A model whose first fit is pending holds the last value and says so; its first
decision wakes the loop (`on_decision`, a registry listener), so it waits seconds for its
parameters, not a whole cadence.

Engines are visited in batches of `batch_models`: a batch's histories (a week of minutes
is 80 KB per series) are all that is copied at once, and early batches start forecasting
before late ones are fitted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from autoscaler.clock import Clock, sleep_or_wake
from autoscaler.decision import Decision
from autoscaler.forecast.refit_pool import RefitJob, RefitPool, RefitReport, install_outcomes
from autoscaler.scaler.metadata import ScalerTarget
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tracked import Tracked

log = logging.getLogger("prewarm.refits")


@dataclass
class BackgroundRefits:
    registry: ScalerRegistry
    pool: RefitPool
    clock: Clock
    every_s: float = 60.0
    batch_models: int = 50
    last_report: RefitReport | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _seen: set[ScalerTarget] = field(default_factory=set, init=False, repr=False)
    fits_installed: int = field(default=0, init=False)  # ever, by this loop
    _fitted_before: set[ScalerTarget] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.registry.listeners = (*self.registry.listeners, self.on_decision)

    def on_decision(self, tracked: Tracked, decision: Decision) -> None:
        """A ScaledObject's first decision (its history back-filled) starts a pass now."""
        if tracked.target not in self._seen:
            self._seen.add(tracked.target)
            self._wake.set()

    async def run_once(self) -> RefitReport:
        """One pass over every tracked model; the totals of its batches."""
        started = time.perf_counter()
        fitted = skipped = failed = 0
        visited: set[ScalerTarget] = set()
        while True:
            # Re-read every batch: a ScaledObject tracked during a long pass joins this pass.
            pending = [t for t in self.registry.all() if t.target not in visited]
            if not pending:
                break
            # Models never fitted yet go first: they forecast the last value until their
            # first fit, while the others keep forecasting with older parameters.
            pending.sort(key=lambda t: t.target in self._fitted_before)
            batch = pending[: self.batch_models]
            visited.update(t.target for t in batch)
            report = await self._refit(batch)
            self.fits_installed += report.fitted
            fitted, skipped, failed = (
                fitted + report.fitted,
                skipped + report.skipped,
                failed + report.failed,
            )
        total = RefitReport(fitted, skipped, failed, time.perf_counter() - started)
        self.last_report = total
        tracked = {t.target for t in self.registry.all()}  # forget dropped ScaledObjects
        self._fitted_before &= tracked
        self._seen &= tracked
        if fitted or failed:
            log.info(
                "refits",
                extra={
                    "fitted": fitted,
                    "skipped": skipped,
                    "failed": failed,
                    "wall_s": round(total.wall_s, 2),
                },
            )
        return total

    async def _refit(self, batch: list[Tracked]) -> RefitReport:
        started = time.perf_counter()
        now_s = self.clock.now_s()

        def collect() -> list[RefitJob]:
            jobs = []
            for t in batch:
                due = t.engine.refit_jobs(now_s)  # none before its history is back-filled
                if due:
                    self._fitted_before.add(t.target)
                jobs += due
            return jobs

        jobs = await self.registry.on_decider(collect)
        if not jobs:
            return RefitReport(0, 0, 0, 0.0)
        # The waiting thread only blocks on the workers' results: it hardly holds the GIL.
        outcomes = await asyncio.to_thread(self.pool.fit, jobs)
        for job, (status, message) in zip(jobs, outcomes, strict=True):
            if status != "ok":
                log.warning("refit failed", extra={"kind": job.target.settings.kind,
                                                   "error": message})  # fmt: skip

        def install() -> RefitReport:
            report = install_outcomes(jobs, outcomes, started)
            for t in batch:
                t.engine.drop_cached_forecasts()
            return report

        return await self.registry.on_decider(install)

    async def run(self) -> None:
        """Refits until cancelled: a pass every `every_s`, or sooner when a new model shows
        up. One pass's failure is logged and the next one tries again."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("refit pass failed")
            # The cadence on the clock, unless a new model wakes us first.
            await sleep_or_wake(self.clock, self.every_s, self._wake)
