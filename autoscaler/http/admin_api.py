"""Mutating endpoints of the operators' API, each behind the bearer token."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from autoscaler.backtest.prometheus import series_from_observations
from autoscaler.backtest.rolling import default_kinds
from autoscaler.backtest.run import backtest_document
from autoscaler.forecast.registry import FORECASTERS
from autoscaler.http.auth import require_token
from autoscaler.http.models_api import NamespaceQuery, find_tracked
from autoscaler.metrics.source import MetricSourceError
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.scaler.registry import ScalerRegistry

BACKTEST_SOURCE_TIMEOUT_S = 60.0  # a week of minutes is a few chunked range queries


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_s: float = Field(300.0, gt=0, le=86400, description="how far ahead to score")
    lookback_s: float = Field(
        2 * 86400.0, ge=3600, le=14 * 86400, description="history read from the model's source"
    )
    bucket_s: float = Field(60.0, ge=10, le=3600)
    forecasters: list[str] | None = Field(
        None, description="kinds to compare; default every kind except arima-per-interval"
    )
    quantile: float = Field(0.95, gt=0.5, lt=1.0)


def admin_router(
    registry: ScalerRegistry, reloader: ProfileReloader | None, token: str | None
) -> APIRouter:
    router = APIRouter(tags=["admin"], dependencies=[Depends(require_token(token))])

    rejected: dict[int | str, dict[str, Any]] = {
        422: {"description": "rejected with its errors; the old profiles stay"}
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
            "errors": list(result.errors),
        }
        return JSONResponse(body, 200 if result.applied else 422)

    @router.post(
        "/models/{model:path}/backtest",
        responses={422: {"description": "bad request"}, 502: {"description": "source failed"}},
    )
    async def backtest_model(
        model: str, request: BacktestRequest, namespace: str | None = NamespaceQuery
    ) -> Any:
        """Rolling-origin backtest of the forecasters on this model's own history (read
        from its source, usually Prometheus): the same document `prewarm backtest` writes.
        CPU-heavy (a few seconds per kind for two days of minutes): it runs in a worker
        thread, never on the decision thread."""
        tracked = find_tracked(registry, model, namespace)
        kinds = request.forecasters or default_kinds()
        unknown = [k for k in kinds if k not in FORECASTERS]
        if unknown:
            raise HTTPException(
                422, f"unknown forecaster kind(s) {unknown}; known: {', '.join(FORECASTERS)}"
            )
        end_s = math.floor(registry.clock.now_s() / request.bucket_s) * request.bucket_s
        start_s = end_s - (math.floor(request.lookback_s / request.bucket_s) - 1) * request.bucket_s
        try:
            history = await asyncio.wait_for(
                tracked.source.history(tracked.query, start_s, end_s, request.bucket_s),
                timeout=BACKTEST_SOURCE_TIMEOUT_S,
            )
        except (MetricSourceError, TimeoutError) as exc:
            raise HTTPException(502, f"reading {model}'s history failed: {exc}") from None
        series = series_from_observations(
            history, request.bucket_s, "tokens", model, tracked.target.scaled_object
        )
        try:
            doc, _ = await asyncio.to_thread(
                backtest_document, series, request.horizon_s, kinds, request.quantile
            )
            return doc
        except ValueError as exc:
            raise HTTPException(422, f"cannot backtest {model}: {exc}") from None

    return router
