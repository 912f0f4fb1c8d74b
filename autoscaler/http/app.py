"""HTTP beside the gRPC server: probes, Prometheus metrics, and the operators' API.

The OpenAPI schema is served at /openapi.json (and browsable at /docs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from autoscaler.http.admin_api import admin_router
from autoscaler.http.gpu_api import gpu_router
from autoscaler.http.models_api import models_router
from autoscaler.http.peers_api import peers_router
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.scaler.registry import ScalerRegistry


def build_app(
    registry: ScalerRegistry,
    metrics: DecisionMetrics,
    *,
    reloader: ProfileReloader | None = None,
    api_token: str | None = None,
    ready: Callable[[], bool] = lambda: True,
) -> FastAPI:
    app = FastAPI(
        title="Prewarm",
        description="Predictive autoscaler for LLM inference: probes, metrics, operators' API",
    )

    @app.get("/healthz", tags=["probes"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "scaled_objects": len(registry)}

    @app.get("/readyz", tags=["probes"], responses={503: {"description": "gRPC not serving"}})
    def readyz() -> Response:
        """Ready = the gRPC scaler is serving (works under TLS, unlike the kubelet's gRPC probe)."""
        if ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "gRPC not serving"}, status_code=503)

    @app.get("/metrics", tags=["probes"])
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(admin_router(registry, reloader, api_token))
    # Before models_router: its bare /models/{model:path} would take /models/x/gpu as model "x/gpu".
    app.include_router(gpu_router(registry))
    app.include_router(models_router(registry))
    app.include_router(peers_router(registry))
    return app
