"""HTTP for probes, Prometheus and operators: /healthz, /metrics, /models."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.registry import ScalerRegistry


def build_app(registry: ScalerRegistry, metrics: DecisionMetrics) -> FastAPI:
    app = FastAPI(title="Prewarm", description="Predictive autoscaler for LLM inference")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "scaled_objects": len(registry)}

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/models")
    def models() -> list[dict[str, Any]]:
        """Every tracked ScaledObject with its current decision and reason."""
        out = []
        for tracked in registry.all():
            d = tracked.decision
            out.append(
                {
                    "scaled_object": tracked.target.scaled_object,
                    "model": tracked.target.model,
                    "namespace": tracked.target.namespace,
                    "profile": tracked.engine.profile.model,
                    "replicas": d.replicas if d else None,
                    "valid": d.valid if d else False,
                    "reason": d.reason if d else "no decision yet",
                    "data_age_s": d.data_age_s if d and d.data_age_s != float("inf") else None,
                    "source_error": tracked.last_error,
                }
            )
        return out

    return app
