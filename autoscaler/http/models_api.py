"""Read endpoints of the operators' API: models, decisions, history, forecasts, profiles.

Model names often contain '/' (meta-llama/Llama-3.1-8B), so they are path parameters that
may span segments; the suffixed routes are registered before the bare one for that reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response

from autoscaler.http import model_views
from autoscaler.http.worker_slots import WorkerSlots
from autoscaler.scaler.error_text import listed, quoted
from autoscaler.scaler.metadata import MetadataError
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tracked import Tracked

# history.png renders running at once; one more is a 429 (worker_slots.py says why not a queue).
PNG_RENDER_SLOTS = 2
NamespaceQuery = Query(None, description="needed when several namespaces serve the model")
# What find_tracked answers, for the OpenAPI schema of every operation that names a model.
LOOKUP_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no ScaledObject asks about this model"},
    409: {"description": "several namespaces serve the model: pass ?namespace="},
}


def find_tracked(registry: ScalerRegistry, model: str, namespace: str | None) -> Tracked:
    """The one ScaledObject for `model` (404 if none, 409 naming them if ambiguous)."""
    matches = [
        t
        for t in registry.all()
        if t.target.model == model and (namespace is None or t.target.namespace == namespace)
    ]
    if not matches:
        raise HTTPException(404, f"no ScaledObject asks about model {quoted(model)}")
    if len(matches) > 1:
        names = ", ".join(listed(sorted(t.target.scaled_object for t in matches)))
        raise HTTPException(409, f"model {quoted(model)} is scaled by {names}: pass ?namespace=")
    return matches[0]


def models_router(registry: ScalerRegistry) -> APIRouter:
    router = APIRouter(tags=["models"])
    renders = WorkerSlots(PNG_RENDER_SLOTS, "history.png renders")

    def profile_name(tracked: Tracked) -> str | None:
        """The name of the profile in force (what metadata `profile:` would name)."""
        try:
            return registry.profiles.choice.choose(tracked.target)
        except MetadataError:  # only between a reload and the front forgetting the target
            return None

    @router.get("/models")
    def list_models() -> list[dict[str, Any]]:
        """Every tracked ScaledObject with its current decision and reason."""
        return [model_views.summary(t, profile_name(t)) for t in registry.all()]

    async def history(model: str, namespace: str | None, hours: float) -> dict[str, Any]:
        tracked = find_tracked(registry, model, namespace)
        now_s = registry.clock.now_s()

        def read() -> dict[str, Any]:
            engine = tracked.engine
            values, end_s = engine.window.complete(now_s)
            return model_views.history_payload(
                values, end_s, engine.window.bucket_s, engine.last_forecasts, now_s - hours * 3600
            )

        return await registry.on_decider(read)

    @router.get("/models/{model:path}/history", responses=LOOKUP_RESPONSES)
    async def model_history(
        model: str,
        namespace: str | None = NamespaceQuery,
        hours: float = Query(6.0, gt=0, le=24 * 30, description="how much history to return"),
    ) -> dict[str, Any]:
        """Bucketed token demand (null = no data) and the forecast behind the decision."""
        return await history(model, namespace, hours)

    @router.get(
        "/models/{model:path}/history.png",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}},
            **LOOKUP_RESPONSES,
            429: {"description": f"{PNG_RENDER_SLOTS} renders already running; see Retry-After"},
        },
    )
    async def model_history_png(
        model: str,
        namespace: str | None = NamespaceQuery,
        hours: float = Query(6.0, gt=0, le=24 * 30),
    ) -> Response:
        """The same as /history, drawn."""
        payload = await history(model, namespace, hours)
        title = f"{model}: token demand and forecast"
        # Off the event loop: a render is ~0.1-0.2 s of CPU, and probes queue behind it.
        png = await renders.run(lambda: model_views.history_png(payload, title))
        return Response(png, media_type="image/png")

    @router.get("/models/{model:path}/profile", responses=LOOKUP_RESPONSES)
    def model_profile(model: str, namespace: str | None = NamespaceQuery) -> dict[str, Any]:
        """The profile in force for this model, defaults filled in."""
        return find_tracked(registry, model, namespace).engine.profile.model_dump(mode="json")

    @router.get("/models/{model:path}", responses=LOOKUP_RESPONSES)
    def model_detail(model: str, namespace: str | None = NamespaceQuery) -> dict[str, Any]:
        tracked = find_tracked(registry, model, namespace)
        return model_views.summary(tracked, profile_name(tracked))

    return router
