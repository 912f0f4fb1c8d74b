"""Mutating endpoints of the operators' API, each behind the bearer token."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autoscaler.backtest.prometheus import series_from_observations
from autoscaler.backtest.rolling import SLOW_KINDS, default_kinds, horizon_steps
from autoscaler.backtest.run import backtest_document
from autoscaler.forecast.registry import FORECASTERS
from autoscaler.http.auth import AUTH_RESPONSES, require_token
from autoscaler.http.models_api import LOOKUP_RESPONSES, NamespaceQuery, find_tracked
from autoscaler.metrics.source import MetricSourceError
from autoscaler.scaler.error_text import bounded, listed
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tracked import Tracked

BACKTEST_SOURCE_TIMEOUT_S = 60.0  # a week of minutes is a few chunked range queries
# The backtest runs in the scaler's own process, so its cost is bounded here. Each
# forecaster keeps an error ring of ~a day's buckets x horizon steps and scores every step
# at every origin: 64 steps (an hour of minutes) costs ~2 ms per origin and kind, so two
# weeks of minutes (20,160 origins) stays within minutes of one core, not hours.
MAX_BACKTEST_STEPS = 64
MAX_BACKTEST_BUCKETS = 14 * 1440


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description=f"how far ahead to score; at most {MAX_BACKTEST_STEPS} buckets",
    )
    lookback_s: float = Field(
        2 * 86400.0,
        ge=3600,
        le=14 * 86400,
        description=f"history read from the model's source; at most {MAX_BACKTEST_BUCKETS:,}"
        " buckets",
    )
    # Whole seconds: Prometheus evaluates a range query at whole milliseconds, so a fractional
    # step (60.7 s) drifts off the bucket grid and its samples overlap by float noise.
    bucket_s: float = Field(60.0, ge=10, le=3600, multiple_of=1, description="whole seconds")
    forecasters: list[str] | None = Field(
        None,
        min_length=1,
        description="kinds to compare; default every kind except arima-per-interval, which "
        "refits at every origin and is only run by `prewarm backtest`",
    )
    quantile: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("forecasters")
    @classmethod
    def _no_slow_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        slow = [kind for kind in kinds or [] if kind in SLOW_KINDS]
        if slow:
            raise ValueError(
                f"{', '.join(slow)} refits at every origin (hours here, in the scaler's "
                "process); run `prewarm backtest --forecasters ... --stride-s ...` instead"
            )
        return kinds

    @model_validator(mode="after")
    def _bounded_cost(self) -> BacktestRequest:
        steps = horizon_steps(self.horizon_s, self.bucket_s)
        if steps > MAX_BACKTEST_STEPS:
            raise ValueError(
                f"horizon_s ({self.horizon_s:g}) is {steps} buckets of bucket_s "
                f"({self.bucket_s:g}); at most {MAX_BACKTEST_STEPS}"
            )
        buckets = math.floor(self.lookback_s / self.bucket_s)
        if buckets > MAX_BACKTEST_BUCKETS:
            raise ValueError(
                f"lookback_s ({self.lookback_s:g}) is {buckets:,} buckets of bucket_s "
                f"({self.bucket_s:g}); at most {MAX_BACKTEST_BUCKETS:,}"
            )
        return self


def admin_router(
    registry: ScalerRegistry, reloader: ProfileReloader | None, token: str | None
) -> APIRouter:
    router = APIRouter(
        tags=["admin"], dependencies=[Depends(require_token(token))], responses=AUTH_RESPONSES
    )
    running = asyncio.Lock()  # held by the one backtest allowed at a time

    rejected: dict[int | str, dict[str, Any]] = {
        409: {"description": "this server has no profile files to reload"},
        422: {"description": "rejected with its errors; the old profiles stay"},
    }

    @router.post("/profiles/reload", responses=rejected)
    async def reload_profiles() -> Any:
        """Re-reads every profile file, validates the whole set and swaps it in atomically.
        An invalid set is rejected with every error, and the profiles in force stay."""
        if reloader is None:
            return JSONResponse({"detail": "this server has no profile files to reload"}, 409)
        result = await reloader.reload()
        body = {
            "applied": result.applied,
            "profiles": list(result.profiles),
            "changed": list(result.changed),
            # One per ScaledObject a removed profile leaves behind: the first few, counted.
            "errors": listed([bounded(e) for e in result.errors]),
        }
        return JSONResponse(body, 200 if result.applied else 422)

    @router.post(
        "/models/{model:path}/backtest",
        responses={
            **LOOKUP_RESPONSES,
            422: {"description": "bad request"},
            429: {"description": "another backtest is running"},
            502: {"description": "source failed"},
        },
    )
    async def backtest_model(
        model: str, request: BacktestRequest, namespace: str | None = NamespaceQuery
    ) -> Any:
        """Rolling-origin backtest of the forecasters on this model's own history (read
        from its source, usually Prometheus): the same document `prewarm backtest` writes.
        CPU-heavy (a few seconds per kind for two days of minutes): it runs in a worker
        thread, never on the decision thread, and one at a time."""
        tracked = find_tracked(registry, model, namespace)
        kinds = default_kinds() if request.forecasters is None else request.forecasters
        unknown = [k for k in kinds if k not in FORECASTERS]
        if unknown:
            raise HTTPException(
                422, f"unknown forecaster kind(s) {unknown}; known: {', '.join(FORECASTERS)}"
            )
        if running.locked():
            # Each one holds a core and its series in the scaler's process: queueing them
            # would let a few clients starve the decisions.
            raise HTTPException(429, "a backtest is already running; retry when it is done")
        await running.acquire()  # free (checked above), so this does not wait
        work = asyncio.ensure_future(_backtest(model, tracked, request, kinds))
        # Released when the work ends, not when the request does: a client that hangs up
        # cannot cancel the worker thread, and must not free the slot while it still runs.
        work.add_done_callback(lambda _: running.release())
        return await asyncio.shield(work)

    async def _backtest(
        model: str, tracked: Tracked, request: BacktestRequest, kinds: list[str]
    ) -> Any:
        end_s = math.floor(registry.clock.now_s() / request.bucket_s) * request.bucket_s
        start_s = end_s - (math.floor(request.lookback_s / request.bucket_s) - 1) * request.bucket_s
        try:
            history = await asyncio.wait_for(
                tracked.source.history(tracked.query, start_s, end_s, request.bucket_s),
                timeout=BACKTEST_SOURCE_TIMEOUT_S,
            )
        except (MetricSourceError, TimeoutError) as exc:
            raise HTTPException(502, f"reading {model}'s history failed: {exc}") from None
        try:
            series = series_from_observations(
                history, request.bucket_s, "tokens", model, tracked.target.scaled_object
            )
        except ValueError as exc:  # samples closer than the step asked for: the source's fault
            raise HTTPException(502, f"{model}'s history does not fit the grid: {exc}") from None
        try:
            doc, _ = await asyncio.to_thread(
                backtest_document, series, request.horizon_s, kinds, request.quantile
            )
            return doc
        except ValueError as exc:
            raise HTTPException(422, f"cannot backtest {model}: {exc}") from None

    return router
