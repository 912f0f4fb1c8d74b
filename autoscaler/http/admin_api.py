"""Mutating endpoints of the operators' API, each behind the bearer token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from autoscaler.http.auth import require_token
from autoscaler.scaler.profile_reloader import ProfileReloader


def admin_router(reloader: ProfileReloader | None, token: str | None) -> APIRouter:
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

    return router
