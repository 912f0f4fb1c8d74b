"""`GET /models/{model}/gpu`: DCGM readings for a model's pods, read live from Prometheus.

Read on request, never in the decision cycle: GPU activity is for an operator judging
saturation and waste next to the decision, not a demand signal (a decode-bound GPU reads
~100 % busy at any load), so the refreshers send Prometheus no extra query for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from autoscaler.http.models_api import NamespaceQuery, find_tracked
from autoscaler.metrics.prometheus_source import PrometheusSource, redact
from autoscaler.metrics.source import MetricSourceError
from autoscaler.scaler.registry import ScalerRegistry


class GpuReading(BaseModel):
    model: str
    namespace: str | None = Field(description="namespace the query is narrowed to; null = any")
    at_s: float = Field(description="epoch seconds of the instant read (the scaler's clock)")
    gpus: int = Field(description="GPUs or MIG instances of the model's pods reporting DCGM")
    engine_active: float | None = Field(
        description="mean DCGM_FI_PROF_GR_ENGINE_ACTIVE, 0..1; null if none reported"
    )
    fb_used_mib: float | None = Field(
        description="sum of DCGM_FI_DEV_FB_USED over the GPUs that export it; null if none "
        "does (MIG instances on H100 do not)"
    )


def gpu_router(registry: ScalerRegistry) -> APIRouter:
    router = APIRouter(tags=["models"])
    errors: dict[int | str, dict[str, Any]] = {
        404: {"description": "unknown model, no DCGM series for its pods, or no Prometheus"},
        409: {"description": "several namespaces serve the model: pass ?namespace="},
        502: {"description": "Prometheus failed or did not answer"},
    }

    @router.get("/models/{model:path}/gpu", responses=errors)
    async def model_gpu(model: str, namespace: str | None = NamespaceQuery) -> GpuReading:
        """DCGM engine activity and framebuffer use of the model's pods, read now from the
        Prometheus its decisions read (same query, same namespace)."""
        tracked = find_tracked(registry, model, namespace)
        source = tracked.source
        if not isinstance(source, PrometheusSource):
            # `serve --demo` emulates vLLM only: there is no DCGM to read.
            raise HTTPException(
                404,
                f"no GPU signals for model {model!r}: DCGM is read from Prometheus, and this "
                f"model's metrics come from {type(source).__name__} (serve --demo has no GPUs)",
            )
        now_s = registry.clock.now_s()
        try:
            async with asyncio.timeout(registry.source_timeout_s):
                gpu = await source.gpu_signals(tracked.query, now_s)
        except MetricSourceError as exc:
            raise HTTPException(502, f"reading {model}'s GPU signals failed: {exc}") from None
        except TimeoutError:
            raise HTTPException(
                502,
                f"reading {model}'s GPU signals failed: Prometheus at {redact(source.url)} "
                f"gave no answer within {registry.source_timeout_s:g} s",
            ) from None
        if gpu is None:
            # Not `gpus: 0`: an empty answer cannot tell "no pods running" from "DCGM not
            # scraped or not labelled with the workload's pod", and 0 would claim the first.
            raise HTTPException(
                404,
                f"no DCGM series for model {model!r}'s pods in Prometheus at "
                f"{redact(source.url)}: no pod of it is running, or dcgm-exporter is not "
                "scraped with the workload's pod/namespace labels",
            )
        return GpuReading(
            model=model,
            namespace=tracked.query.namespace,
            at_s=gpu.t_s,
            gpus=gpu.gpus,
            engine_active=gpu.engine_active,
            fb_used_mib=gpu.fb_used_mib,
        )

    return router
