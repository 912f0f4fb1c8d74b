"""`GET /peers/decisions`: this replica's own decisions, read by the other Prewarm replicas.

Read-only and unauthenticated like `/models` (the same decisions, in a form replicas parse).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from autoscaler.scaler.peers.exchange import REPORT_PATH
from autoscaler.scaler.registry import ScalerRegistry


def peers_router(registry: ScalerRegistry) -> APIRouter:
    router = APIRouter(tags=["peers"])

    @router.get(
        REPORT_PATH,
        responses={404: {"description": "this replica exchanges no decisions (no `peers`)"}},
    )
    def peer_decisions() -> dict[str, Any]:
        """Each tracked ScaledObject's own decision, with when this replica began tracking
        it: the replicas answer the decision of whichever has tracked it longest."""
        if registry.peers is None:
            raise HTTPException(404, "this replica has no peers configured (serve config `peers`)")
        return registry.own_report().model_dump(mode="json")

    return router
