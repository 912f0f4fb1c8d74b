"""The mutating admission webhook over HTTP: AdmissionReview (admission.k8s.io/v1) in and out.

POST /mutate takes the API server's AdmissionReview and answers with the same `uid`,
`allowed: true` always (Prewarm never blocks a pod), and for an opted-in pod with a planned
slot a base64 JSONPatch. A body that is not an AdmissionReview is a 400 that names the problem.
GET /healthz says which plan generation is in force and the last reload error.

The AdmissionReview is parsed leniently where the API server owns the shape (unknown fields are
ignored: a newer API server adds some), strictly where we depend on it (apiVersion, kind, uid).
Once the uid is read there is always an AdmissionReview to answer: a request kind, operation
or object of an unexpected shape is not a pod to place, and is allowed unchanged. A 400 or a
500 would fail the call, leaving the pod to the webhook's failurePolicy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.kubernetes.admission import Mutation, mutate_pod
from scheduler.kubernetes.plan_store import PlanSource

log = logging.getLogger("prewarm.placement")

ADMISSION_API = "admission.k8s.io/v1"


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uid: str = Field(min_length=1)
    # Any: read in `_pod_to_create`, so a surprising shape is a pod left alone, not a 400.
    kind: Any = None
    operation: Any = "CREATE"
    namespace: Any = ""
    object: Any = None


class AdmissionReview(BaseModel):
    model_config = ConfigDict(extra="ignore")
    apiVersion: Literal["admission.k8s.io/v1"]  # noqa: N815 (the wire name)
    kind: Literal["AdmissionReview"]
    request: _Request


def review_response(uid: str, patch: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warnings:
        response["warnings"] = warnings
    return {"apiVersion": ADMISSION_API, "kind": "AdmissionReview", "response": response}


def _pod_to_create(request: _Request) -> dict[str, Any] | None:
    """The pod, when this is the creation of one."""
    kind = request.kind.get("kind") if isinstance(request.kind, dict) else None
    if kind != "Pod" or request.operation != "CREATE" or not isinstance(request.object, dict):
        return None
    return request.object


def build_webhook_app(store: PlanSource, *, watch_interval_s: float = 2.0) -> FastAPI:
    """The app; while it runs (its lifespan) it re-checks the plan file every interval, or
    watches the placement ConfigMaps."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.check)
        watcher = asyncio.create_task(store.watch(watch_interval_s))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(title="Prewarm placement webhook", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        plan = store.current
        return {
            "status": "ok",
            "plan_generation": plan.generation if plan else 0,
            "models": sorted(plan.placements) if plan else [],
            "last_error": store.last_error,
        }

    @app.post("/mutate")
    async def mutate(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: nested past json's stack
            raise HTTPException(400, "body is not JSON: expected an AdmissionReview") from None
        try:
            review = AdmissionReview.model_validate(body)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise HTTPException(
                400, "not an admission.k8s.io/v1 AdmissionReview: " + "; ".join(problems)
            ) from None
        req = review.request
        pod = _pod_to_create(req)
        if pod is None:
            return review_response(req.uid, [], [])
        try:
            mutation = mutate_pod(pod, store.current)
        except Exception as exc:  # a bug must cost this pod its placement, not its creation
            log.exception("pod placement failed; admitting it unplaced")
            mutation = Mutation(warnings=(f"prewarm: pod not placed: {type(exc).__name__}",))
        if mutation.patch or mutation.warnings:
            meta = pod.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            log.info(
                "pod admitted",
                extra={
                    "namespace": str(req.namespace),
                    "pod": str(meta.get("name") or meta.get("generateName")),
                    "patched": bool(mutation.patch),
                    "warnings": list(mutation.warnings),
                },
            )
        return review_response(req.uid, list(mutation.patch), list(mutation.warnings))

    return app
